"""RFC 6962 / RFC 9162 Merkle tree: hashes, tree levels, inclusion and consistency proofs.

Leaves are hashed as SHA-256(0x00 || leaf) and interior nodes as SHA-256(0x01 || left || right).
The tree is built iteratively level by level (an odd last node is carried up unchanged), which
gives exactly the RFC 6962 Merkle Tree Hash and lets proofs be read off stored levels. Proofs for
any size up to the snapshot's size come from the same :class:`MerkleTree`, i.e. from one snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from ledger.errors import ProofError

EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 6962 leaf hash SHA-256(0x00 || leaf) [32 bytes]."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash SHA-256(0x01 || left || right) [32 bytes]."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    n = len(level)
    out = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, n - 1, 2)]
    if n % 2:
        out.append(level[-1])
    return out


def tree_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """All levels of the tree over ``leaf_hashes``: level 0 is the leaves, the last the root."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of a list of leaf hashes, computed iteratively level by level."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    """Merkle Tree Hash of raw leaves."""
    return root_from_leaf_hashes([leaf_hash(x) for x in leaves])


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An immutable snapshot of the log: the levels over its first ``size`` leaf hashes.

    Parameters
    ----------
    leaf_hashes
        Leaf hashes in index order.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._levels = tree_levels(leaf_hashes)
        self.size = len(leaf_hashes)

    def root(self, size: int | None = None) -> bytes:
        """Root of the tree of the first ``size`` leaves (default: the whole snapshot)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def leaf_hash(self, index: int) -> bytes:
        """Hash of leaf ``index``."""
        return self._levels[0][index]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is outside this snapshot (0..{self.size})")

    def _mth(self, start: int, end: int) -> bytes:
        """Hash of the subtree over leaves [start, end) (start aligned as RFC 6962 splits)."""
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            level = width.bit_length() - 1
            return self._levels[level][start >> level]
        k = _largest_power_of_two_below(width)
        return node_hash(self._mth(start, start + k), self._mth(start + k, end))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 §2.1.1)."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
        proof: list[bytes] = []
        start, end = 0, size
        # Walk down from the root; siblings are collected top-down, returned bottom-up.
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index < start + k:
                proof.append(self._mth(start + k, end))
                end = start + k
            else:
                proof.append(self._mth(start, start + k))
                start = start + k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """Consistency proof from the tree of ``old_size`` leaves to ``size`` (RFC 6962 §2.1.2)."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 < old_size <= size:
            raise ProofError(f"no consistency proof from size {old_size} to {size}")
        if old_size == size:
            return []
        return self._subproof(old_size, 0, size, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._mth(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._mth(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._mth(start, start + k)]


def root_from_inclusion(index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); :class:`ProofError` if the
    proof has the wrong shape for (index, size)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    if len(leaf_hash_) != HASH_SIZE:
        raise ProofError("leaf hash is not 32 bytes")
    fn, sn = index, size - 1
    r = leaf_hash_
    sha = hashlib.sha256
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise :class:`ProofError` if it fails."""
    if root_from_inclusion(index, size, leaf_hash_, proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise :class:`ProofError` if it fails."""
    if size1 > size2:
        raise ProofError(f"old tree size {size1} is larger than new size {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("equal tree sizes need an empty consistency proof")
        if root1 != root2:
            raise ProofError("equal tree sizes with different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    nodes = list(proof)
    if size1 & (size1 - 1) == 0:
        nodes.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the new root")
