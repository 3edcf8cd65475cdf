// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Sha256Merkle
/// @notice Domain-separated SHA-256 Merkle tree over 32-byte certificate digests, matching the Python `ledger` side
/// byte for byte: leaves are prefixed 0x00, inner nodes 0x01 with the pair sorted, so a proof carries no
/// left/right flags and an inner node can never be passed off as a leaf.
/// @dev leaf(d) = sha256(0x00 || d); node(a, b) = sha256(0x01 || min(a, b) || max(a, b)).
/// A one-leaf tree has root leaf(d) and an empty proof. SHA-256 (precompile 0x02) rather than keccak256 so that the
/// off-chain verifier needs only a standard hash.
library Sha256Merkle {
    /// @notice Hash of a leaf holding certificate digest `digest`.
    function leaf(bytes32 digest) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), digest));
    }

    /// @notice Hash of the inner node whose children are `a` and `b`, in either order.
    function node(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a <= b ? sha256(abi.encodePacked(bytes1(0x01), a, b)) : sha256(abi.encodePacked(bytes1(0x01), b, a));
    }

    /// @notice True when `proof` (sibling hashes from the leaf up) leads from `digest` to `root`.
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 digest) internal pure returns (bool) {
        bytes32 h = leaf(digest);
        for (uint256 i = 0; i < proof.length; ++i) {
            h = node(h, proof[i]);
        }
        return h == root;
    }

    /// @notice Same as {verify} for a proof held in memory (used by tests and off-chain simulations).
    function verifyMemory(bytes32[] memory proof, bytes32 root, bytes32 digest) internal pure returns (bool) {
        bytes32 h = leaf(digest);
        for (uint256 i = 0; i < proof.length; ++i) {
            h = node(h, proof[i]);
        }
        return h == root;
    }
}
