import { strict as assert } from 'node:assert';
import { EMPTY_ROOT, leafHash, MerkleTree, verifyConsistency, verifyInclusion } from '../storage-layer/merkle';

// RFC 6962 / RFC 9162 reference vectors as published with Certificate Transparency
// (certificate-transparency-go and transparency-dev/merkle test data).
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION = [
  { index: 0, size: 8, proof: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { index: 5, size: 8, proof: ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
];
const CONSISTENCY = [
  { from: 2, to: 8, proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { from: 6, to: 8, proof: ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
  { from: 2, to: 5, proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'] },
];

const hex = (bs: Buffer[]) => bs.map((b) => b.toString('hex'));
const unhex = (hs: string[]) => hs.map((h) => Buffer.from(h, 'hex'));

function referenceTree(): MerkleTree {
  const tree = new MerkleTree();
  for (const l of LEAVES) tree.append(leafHash(l));
  return tree;
}

describe('Merkle tree (RFC 9162)', () => {
  it('has the empty root of SHA-256("")', () => {
    assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('matches the reference roots for every size 1..8', () => {
    const tree = referenceTree();
    for (let n = 1; n <= 8; n++) assert.equal(tree.root(n).toString('hex'), ROOTS[n - 1], `size ${n}`);
  });

  it('produces and verifies the reference inclusion proofs', () => {
    const tree = referenceTree();
    for (const v of INCLUSION) {
      assert.deepEqual(hex(tree.inclusionProof(v.index, v.size)), v.proof);
      assert.ok(verifyInclusion(tree.leaf(v.index), v.index, v.size, unhex(v.proof), Buffer.from(ROOTS[v.size - 1]!, 'hex')));
    }
  });

  it('produces and verifies the reference consistency proofs', () => {
    const tree = referenceTree();
    for (const v of CONSISTENCY) {
      assert.deepEqual(hex(tree.consistencyProof(v.from, v.to)), v.proof, `${v.from}->${v.to}`);
      assert.ok(verifyConsistency(v.from, v.to, tree.root(v.from), tree.root(v.to), unhex(v.proof)));
    }
  });

  it('verifies every proof in every tree up to 70 leaves, and rejects tampered ones', () => {
    const tree = new MerkleTree();
    for (let i = 0; i < 70; i++) tree.append(leafHash(Buffer.from([i, i * 3])));
    for (let n = 1; n <= 70; n++) {
      const root = tree.root(n);
      for (let i = 0; i < n; i++) {
        const proof = tree.inclusionProof(i, n);
        assert.ok(verifyInclusion(tree.leaf(i), i, n, proof, root), `inclusion ${i}/${n}`);
        if (n > 1) {
          assert.ok(!verifyInclusion(tree.leaf((i + 1) % n), i, n, proof, root), 'wrong leaf accepted');
          const bad = proof.map((p) => Buffer.from(p));
          bad[0]![0]! ^= 1;
          assert.ok(!verifyInclusion(tree.leaf(i), i, n, bad, root), 'tampered proof accepted');
        }
      }
      for (let m = 1; m <= n; m++) {
        const proof = tree.consistencyProof(m, n);
        assert.ok(verifyConsistency(m, n, tree.root(m), root, proof), `consistency ${m}->${n}`);
        if (m < n) assert.ok(!verifyConsistency(m, n, tree.root(m), tree.root(n - 1), proof), 'wrong new root accepted');
      }
    }
  });

  it('root of a size equals a tree built from only that many leaves', () => {
    const big = new MerkleTree();
    const leaves = Array.from({ length: 1000 }, (_, i) => leafHash(Buffer.from(String(i))));
    for (const l of leaves) big.append(l);
    for (const n of [1, 2, 3, 255, 256, 257, 999, 1000]) {
      const small = new MerkleTree();
      for (const l of leaves.slice(0, n)) small.append(l);
      assert.ok(big.root(n).equals(small.root()), `size ${n}`);
    }
  });

  it('rejects sizes and indexes out of range', () => {
    const tree = referenceTree();
    assert.throws(() => tree.root(9), RangeError);
    assert.throws(() => tree.inclusionProof(8, 8), RangeError);
    assert.throws(() => tree.consistencyProof(0, 8), RangeError);
    assert.ok(!verifyConsistency(2, 8, tree.root(2), tree.root(8), []));
  });
});
