/**
 * The parties of a test cluster as they send and receive (their names and private keys, read from the
 * cluster's keys folder), clients that act as one of them, and opening what a tap recorded with the
 * private keys of the parties (which a passive observer does not have).
 */
import type { Config } from '../../config';
import { NodeClient } from '../../parties/client';
import { KeyDirectory, loadOrCreateEncryptionKey, nodeKeyFiles, nodeParty, type EncryptionKey, type PartyIdentity } from '../../parties/key-directory';
import { RECIPIENT_HEADER, PARTY_HEADER, SIGNATURE_HEADER } from '../../parties/request-signing';
import { openAnswerBody, openRequestBody } from '../../parties/sealed-body';
import { loadOrCreateSigningKey, type SigningKey } from '../../storage-layer/signing-key';
import type { Exchange } from './tap';

/** The test gateway: the cluster's gateway signing key and the X25519 key in the cluster's keys folder. */
export function gatewayParty(tc: { config: Config; gatewayKey: SigningKey }): PartyIdentity {
  return { party: 'gateway', signingKey: tc.gatewayKey, encryptionKey: loadOrCreateEncryptionKey(tc.config.nodes.gatewayEncryptionKeyFile) };
}

/** Node `id` as a party (its own key files). */
export function nodeIdentity(config: Config, id: number): PartyIdentity {
  const files = nodeKeyFiles(config.nodes.keysDir, id);
  return { party: nodeParty(id), signingKey: loadOrCreateSigningKey(files.signing), encryptionKey: loadOrCreateEncryptionKey(files.encryption) };
}

/** A client that sends as `self` to the node at `url`, addressed to `recipient`. */
export function clientAs(config: Config, self: PartyIdentity, url: string, recipient: string): NodeClient {
  return new NodeClient({ baseUrl: url, self, recipient, keys: new KeyDirectory(config.nodes.keysDir) });
}

/** Every party's X25519 private key, from the key files (what the test knows and an observer does not). */
export function privateKeys(config: Config): (party: string) => EncryptionKey {
  const keys = new Map<string, EncryptionKey>([['gateway', loadOrCreateEncryptionKey(config.nodes.gatewayEncryptionKeyFile)]]);
  for (let id = 1; id <= config.nodes.count; id++) keys.set(nodeParty(id), nodeIdentity(config, id).encryptionKey);
  return (party) => {
    const key = keys.get(party);
    if (!key) throw new Error(`no key for ${party}`);
    return key;
  };
}

/** An exchange's request and answer bodies opened with the recipients' private keys. */
export function openExchange(x: Exchange, keyOf: (party: string) => EncryptionKey): { request: string; answer?: string } {
  const sender = x.headers[PARTY_HEADER] as string;
  const recipient = x.headers[RECIPIENT_HEADER] as string;
  const request = openRequestBody(keyOf(recipient), { party: sender, recipient, method: x.method, path: x.path }, x.body);
  if (x.status === undefined || x.responseBody === undefined) return { request };
  const context = { signer: recipient, recipient: sender, status: x.status, requestSignature: x.headers[SIGNATURE_HEADER] as string };
  return { request, answer: openAnswerBody(keyOf(sender), context, x.responseBody) };
}
