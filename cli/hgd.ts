/**
 * `hgd`: the command line. Every subcommand reads the same Config (config.ts).
 *   hgd start [--no-nodes]            gateway and its compute nodes (each its own process)
 *   hgd node --id N                   compute node N alone (exits with the gateway that spawned it)
 *   hgd migrate                       apply database migrations and exit
 *   hgd ledger verify [--json] [--checkpoint FILE...] [--trust FILE]
 *   hgd ledger checkpoint --export FILE
 *   hgd ingest PATH... [--url U | env HGD_URL] [--token T | env HGD_TOKEN | --api-key K | env HGD_API_KEY] [--state FILE] [--chunk N]
 *   hgd admin token --role R [--org O] [--sub S] [--patient-identifier 'system|value'] [--ttl SECONDS]
 *   hgd admin [--url U] [--token T | --username U --password-stdin] SUBCOMMAND   (a running gateway, else the database)
 *   hgd admin org create ID | hgd admin org list
 *   hgd admin user create --role R --username U [--org O] [--patient-identifier 'system|value'] [--password-stdin] | user list
 *   hgd admin key create --org O | hgd admin key list [--org O] | hgd admin key revoke KEYID
 *   hgd admin study create ID --title T [--purpose P] [--min-cohort N] [--epsilon-budget E] | study list
 *   hgd admin study add-researcher ID USERNAME
 */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { configuredKeyRing, migrationsWith, openConfiguredDatabase } from '../app/gateway';
import { runMigrations } from '../storage-layer/migrate';
import { ledgerCheckpointExport, ledgerVerify, type VerifyCliOptions } from './ledger-command';
import { startServer } from '../app/server';
import { runNodeCli, type ComputeNode } from '../app/compute-node';
// hgd ingest / hgd admin token
import { ingestCommand, type IngestCliOptions } from './ingest-command';
import {
  issueAdminToken, connectOptions, adminOrgCreate, adminOrgList, adminUserCreate, adminUserList, adminKeyCreate, adminKeyList, adminKeyRevoke,
  adminStudyCreate, adminStudyList, adminStudyAddResearcher,
  type AdminGroupOptions, type AdminTokenOptions, type AdminUserOptions, type AdminStudyOptions,
} from './admin-command';
import { DEFAULT_STUDY_PURPOSE } from '../app/admin-operations';

const program = new Command('hgd').description('Healthcare Data Gateway');

program
  .command('start')
  .description('start the gateway and its compute nodes (each its own process) on the configured databases (PGlite under ./data by default)')
  .option('--no-nodes', 'start the gateway alone (the nodes run elsewhere)')
  .action(async (opts: { nodes: boolean }) => {
    await startServer(loadConfig(), { withNodes: opts.nodes });
  });

/** The compute node this process runs (hgd node), once it has started. */
let runningNode: ComputeNode | undefined;

program
  .command('node')
  .description('run compute node N: it holds only secret shares and answers only signed calls from the gateway and its peers')
  .requiredOption('--id <n>', 'node number, 1..HGD_NODES')
  .action(async (opts: { id: string }) => {
    const config = loadConfig();
    const id = Number(opts.id);
    if (!Number.isInteger(id) || id < 1 || id > config.nodes.count) throw new Error(`--id must be a whole number from 1 to ${config.nodes.count}`);
    exitWithParentGateway();
    runningNode = await runNodeCli(config, id);
  });

/**
 * A node spawned by a gateway (`npm start`, app/compute-node-processes.ts) has an IPC channel to it;
 * the OS closes the channel when the gateway dies, even by kill -9, and then the node exits rather
 * than linger as an orphan. A node started by hand has no channel and runs on its own.
 */
function exitWithParentGateway(): void {
  if (!process.channel) return;
  process.channel.unref(); // the channel alone does not keep the node running
  process.once('disconnect', () => {
    console.error('hgd node: the gateway that started this node is gone; stopping');
    void (runningNode?.close() ?? Promise.resolve()).finally(() => process.exit(0));
  });
}

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const config = loadConfig();
    const db = await openConfiguredDatabase(config);
    const applied = await runMigrations(db, migrationsWith(configuredKeyRing(config)), (m) => console.error(m));
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    await db.close();
  });

const ledger = program.command('ledger').description('audit the ledger');

ledger
  .command('verify')
  .description('recompute every leaf, the chain and every signed root against trusted keys (configuration or --trust); exit 1 names the first bad entry')
  .option('--json', 'print the report as JSON')
  .option('--checkpoint <file...>', 'also check against checkpoints exported earlier (hgd ledger checkpoint --export)')
  .option('--trust <file>', 'trusted log and witness keys from this file ({origin, logKeys, witnesses, quorum}, or an exported checkpoint\'s "trust")')
  .action(async (opts: VerifyCliOptions) => {
    process.exitCode = await ledgerVerify(loadConfig(), opts);
  });

ledger
  .command('checkpoint')
  .description('sign a checkpoint now, have the witnesses cosign it, and export it (with its leaf hashes) to a file kept outside the database')
  .requiredOption('--export <file>', 'where to write the checkpoint JSON')
  .action(async (opts: { export: string }) => {
    console.log(await ledgerCheckpointExport(loadConfig(), opts.export));
  });

// --- hgd ingest, hgd admin token (cli/ingest-command.ts, cli/admin-command.ts) ---
program
  .command('ingest')
  .description('send FHIR JSON / NDJSON / CSV files or folders to a gateway, in resumable chunks; exit 1 if a chunk could not be sent')
  .argument('<paths...>', 'files or folders (*.json, *.ndjson, *.csv; folders recursively)')
  .option('--url <url>', 'gateway URL (default: HGD_URL, else the gateway\'s own address from HGD_HOST and PORT)')
  .option('--token <jwt>', 'provider token, sent as Bearer (default: HGD_TOKEN)')
  .option('--api-key <key>', 'provider API key, sent as X-API-Key (default: HGD_API_KEY)')
  .option('--state <file>', 'resume state (acknowledged chunks)', './.hgd-ingest-state.json')
  .option('--chunk <n>', 'lines (NDJSON) or rows (CSV) per request', '2000')
  .option('--concurrency <n>', 'requests in flight', '2')
  .option('--retries <n>', 'retries per chunk on connection errors and 5xx', '5')
  .option('--report <file>', 'quarantine report (written when entries were rejected)', './hgd-ingest-report.json')
  .option('--quiet', 'no progress bar (periodic plain lines instead)')
  .action(async (paths: string[], opts: IngestCliOptions) => {
    process.exitCode = await ingestCommand(paths, opts, loadConfig().client);
  });

// Positional: `hgd admin --username admin --password-stdin user create --username bob` keeps the
// admin's options (before the subcommand) apart from the subcommand's own.
program.enablePositionalOptions();
const admin = program
  .command('admin')
  .description('administration: org, user, key and study go through a running gateway (its admin routes), else the database')
  .enablePositionalOptions()
  .option('--url <url>', 'gateway URL (default: HGD_URL, else HGD_HOST and PORT); given explicitly, no fallback to the database')
  .option('--token <jwt>', 'an admin token (default: HGD_ADMIN_TOKEN; else --username, else one signed with this machine\'s gateway key)')
  .option('--username <username>', 'sign in as this admin user (POST /auth/login)')
  .option('--password-stdin', 'read the password of --username from standard input');
admin
  .command('token')
  .description('print a JWT signed with the gateway key')
  .requiredOption('--role <role>', 'admin | provider | patient | researcher | auditor | node')
  .option('--org <org>', 'organisation (provider)')
  .option('--sub <sub>', 'subject')
  .option('--patient-identifier <system|value>', 'patient: the subject becomes the pseudonym of this identifier')
  .option('--study <id...>', 'studies (researcher)')
  .option('--ttl <seconds>', 'lifetime (default HGD_TOKEN_TTL_SECONDS)')
  .action(async (opts: AdminTokenOptions) => {
    console.log(await issueAdminToken(loadConfig(), opts));
  });

/** `hgd admin`'s own options (they go before the subcommand), as connection options. */
const conn = (stdinTaken = false) => connectOptions(admin.opts<AdminGroupOptions>(), stdinTaken);

const org = admin.command('org').description('organisations');
org
  .command('create')
  .description('register an organisation (providers belong to one)')
  .argument('<id>', 'organisation id')
  .action(async (id: string) => {
    console.log(await adminOrgCreate(loadConfig(), await conn(), id));
  });
org
  .command('list')
  .description('list organisations (id, created)')
  .action(async () => {
    console.log(await adminOrgList(loadConfig(), await conn()));
  });

const user = admin.command('user').description('users of the password login (POST /auth/login)');
user
  .command('create')
  .description('create a user; without --password-stdin a password is generated and printed once')
  .requiredOption('--role <role>', 'admin | provider | patient | researcher | auditor')
  .requiredOption('--username <username>', 'login name')
  .option('--org <org>', 'organisation (provider)')
  .option('--patient-identifier <system|value>', 'patient: the subject is the pseudonym of this identifier')
  .option('--password-stdin', 'read the password from standard input')
  .action(async (opts: AdminUserOptions) => {
    const r = await adminUserCreate(loadConfig(), await conn(Boolean(opts.passwordStdin)), opts);
    console.log(r.out);
    if (r.info) console.error(r.info);
  });
user
  .command('list')
  .description('list users (username, role, organisation, created); never passwords or subjects')
  .action(async () => {
    console.log(await adminUserList(loadConfig(), await conn()));
  });

const key = admin.command('key').description("providers' API keys (X-API-Key: <key>)");
key
  .command('create')
  .description('create an API key for an organisation and print it once (only its hash is stored)')
  .requiredOption('--org <org>', 'organisation')
  .action(async (opts: { org: string }) => {
    const r = await adminKeyCreate(loadConfig(), await conn(), opts.org);
    console.log(r.out);
    console.error(r.info);
  });
key
  .command('list')
  .description('list API keys (key id, organisation, created, revoked)')
  .option('--org <org>', 'only this organisation\'s keys')
  .action(async (opts: { org?: string }) => {
    console.log(await adminKeyList(loadConfig(), await conn(), opts.org));
  });
key
  .command('revoke')
  .description('revoke an API key (it answers 401 from now on)')
  .argument('<keyid>', 'the key id (hgd_<keyid>_...)')
  .action(async (keyId: string) => {
    console.log(await adminKeyRevoke(loadConfig(), await conn(), keyId));
  });

const study = admin.command('study').description('studies and their researchers');
study
  .command('create')
  .description('register a study')
  .argument('<id>', 'study id')
  .requiredOption('--title <title>', 'title')
  .option('--purpose <code>', 'PurposeOfUse code (HRESCH, BIORCH, CLINTRCH, ...)', DEFAULT_STUDY_PURPOSE)
  .option('--min-cohort <n>', 'smallest cohort a result is released for')
  .option('--epsilon-budget <e>', 'differential-privacy budget of the study')
  .action(async (id: string, opts: AdminStudyOptions) => {
    console.log(await adminStudyCreate(loadConfig(), await conn(), id, opts));
  });
study
  .command('list')
  .description('list studies with their budgets and researchers')
  .action(async () => {
    console.log(await adminStudyList(loadConfig(), await conn()));
  });
study
  .command('add-researcher')
  .description('add a researcher user to a study')
  .argument('<id>', 'study id')
  .argument('<username>', 'a user with role researcher')
  .action(async (id: string, username: string) => {
    console.log(await adminStudyAddResearcher(loadConfig(), await conn(), id, username));
  });
// --- end hgd ingest, hgd admin token ---

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`hgd: ${err.message}`);
  process.exit(2);
});
