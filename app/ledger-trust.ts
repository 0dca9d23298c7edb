/**
 * The ledger's trust material from configuration (never from the ledger): the log keys a verifier
 * accepts (the signing key's public half and HGD_LEDGER_TRUSTED_KEYS) and the witnesses' pinned
 * keys with the quorum. Also the HTTP transport the checkpointer asks witnesses through.
 */
import fs from 'node:fs';
import type { Config } from '../config';
import { loadOrCreateSigningKey, type SigningKey } from '../storage-layer/signing-key';
import { trustFromFile, type Trust, type TrustFile } from '../storage-layer/verify/trust';
import { localWitnesses } from '../storage-layer/witness/host';
import { SIZE_CONTENT_TYPE, type WitnessEndpoint, type WitnessTransport } from '../storage-layer/witness/protocol';

/**
 * The witnesses and quorum in force: HGD_WITNESSES when set; otherwise (the embedded default, every
 * party on one machine) the compute nodes' witnesses from the public files they wrote in the keys
 * folder, with a majority quorum. Neither comes from the ledger.
 */
export function configuredWitnesses(config: Config): { list: Array<WitnessEndpoint & { url: string }>; quorum: number } {
  if (config.witnesses.list.length > 0) return { list: [...config.witnesses.list], quorum: config.witnesses.quorum };
  const list = localWitnesses(config);
  return { list, quorum: list.length === 0 ? 0 : Math.floor(list.length / 2) + 1 };
}

export function trustFileFromConfig(config: Config, signingKey?: SigningKey): TrustFile {
  const witnesses = configuredWitnesses(config);
  const own = signingKey ? [signingKey.publicKeyBase64] : fs.existsSync(config.ledger.signingKeyFile) ? [loadOrCreateSigningKey(config.ledger.signingKeyFile).publicKeyBase64] : [];
  return {
    origin: config.ledger.origin,
    logKeys: [...new Set([...own, ...config.ledger.trustedKeys])],
    witnesses: witnesses.list.map((w) => ({ name: w.name, publicKey: w.publicKey })),
    quorum: witnesses.quorum,
  };
}

export function trustFromConfig(config: Config, signingKey?: SigningKey): Trust {
  return trustFromFile(trustFileFromConfig(config, signingKey));
}

export function witnessEndpoints(config: Config): WitnessEndpoint[] {
  return configuredWitnesses(config).list.map((w) => ({ name: w.name, publicKey: w.publicKey }));
}

/** POST <url>/add-checkpoint for each configured witness (the URL prefix comes from configuration). */
export function httpWitnessTransport(config: Config): WitnessTransport {
  const urls = new Map(configuredWitnesses(config).list.map((w) => [w.name, w.url.replace(/\/$/, '')]));
  return async (witness, body) => {
    const url = urls.get(witness.name);
    if (!url) return { status: 404, body: `no URL configured for witness ${witness.name}\n`, contentType: 'text/plain' };
    const res = await fetch(`${url}/add-checkpoint`, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' }, signal: AbortSignal.timeout(config.witnesses.timeoutMs) });
    return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? (res.status === 409 ? SIZE_CONTENT_TYPE : 'text/plain') };
  };
}
