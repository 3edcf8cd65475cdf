// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./utils/Test.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {Sha256Merkle} from "../src/Sha256Merkle.sol";

/// @dev Exposes the calldata verifier to tests.
contract MerkleHarness {
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 digest) external pure returns (bool) {
        return Sha256Merkle.verify(proof, root, digest);
    }
}

contract Sha256MerkleTest is Test {
    MerkleHarness internal h;

    bytes32 internal d0 = sha256(bytes("a"));
    bytes32 internal d1 = sha256(bytes("b"));
    bytes32 internal d2 = sha256(bytes("c"));

    function setUp() public {
        h = new MerkleHarness();
    }

    function _one(bytes32 x) internal pure returns (bytes32[] memory p) {
        p = new bytes32[](1);
        p[0] = x;
    }

    function _two(bytes32 x, bytes32 y) internal pure returns (bytes32[] memory p) {
        p = new bytes32[](2);
        p[0] = x;
        p[1] = y;
    }

    function test_LeafAndNodeEncoding() public pure {
        bytes32 d = sha256(bytes("a"));
        assertEq(Sha256Merkle.leaf(d), sha256(abi.encodePacked(hex"00", d)), "leaf = sha256(0x00 || d)");
        bytes32 x = bytes32(uint256(1));
        bytes32 y = bytes32(uint256(2));
        bytes32 expected = sha256(abi.encodePacked(hex"01", x, y));
        assertEq(Sha256Merkle.node(x, y), expected, "node sorted");
        assertEq(Sha256Merkle.node(y, x), expected, "node symmetric");
    }

    /// @dev Cross-language vector; the hex root is what Python's hashlib computes for the same tree.
    function test_Vector_ThreeLeaves() public view {
        bytes32 l0 = Sha256Merkle.leaf(d0);
        bytes32 l1 = Sha256Merkle.leaf(d1);
        bytes32 l2 = Sha256Merkle.leaf(d2);
        bytes32 n01 = Sha256Merkle.node(l0, l1);
        bytes32 root = Sha256Merkle.node(n01, l2);
        assertEq(root, 0xc4a4805e4d4b30d79f415154dd9ac637d9c60e9d9abe0582b34b8d37398af28c, "pinned root");
        assertEq(n01, 0x73a57aee9ae28c072b7e0ed9b56a57a69cc6fb048a723d7f052177084d1250ee, "pinned node(l0, l1)");

        bytes32[] memory digests = new bytes32[](3);
        digests[0] = d0;
        digests[1] = d1;
        digests[2] = d2;
        assertEq(MerkleBuilder.root(digests), root, "builder agrees with the vector");

        assertTrue(h.verify(_one(n01), root, d2), "proof of d2");
        assertTrue(h.verify(_two(l1, l2), root, d0), "proof of d0");
        assertTrue(h.verify(_two(l0, l2), root, d1), "proof of d1");

        assertFalse(h.verify(_one(n01), root, d0), "wrong digest");
        assertFalse(h.verify(_one(l2), root, n01), "inner node passed as a leaf digest");
        assertFalse(h.verify(new bytes32[](0), root, n01), "inner node with empty proof");
        assertFalse(h.verify(_one(l1), root, d0), "truncated proof");
        assertFalse(h.verify(_one(l1), n01, l0), "leaf hash passed as a digest");
    }

    function test_OneLeafTree() public view {
        bytes32 root = Sha256Merkle.leaf(d0);
        assertTrue(h.verify(new bytes32[](0), root, d0), "one-leaf tree, empty proof");
        assertFalse(h.verify(new bytes32[](0), root, d1), "other digest");
        bytes32[] memory digests = new bytes32[](1);
        digests[0] = d0;
        assertEq(MerkleBuilder.root(digests), root, "builder one leaf");
    }

    /// @dev Random trees of 1..64 leaves: every leaf's proof verifies, and fails against a tweaked digest.
    function testFuzz_EveryLeafVerifies(uint256 seed, uint8 size) public view {
        uint256 n = bound(size, 1, 64);
        bytes32[] memory digests = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            digests[i] = sha256(abi.encode(seed, i));
        }
        bytes32 root = MerkleBuilder.root(digests);
        for (uint256 i = 0; i < n; ++i) {
            bytes32[] memory proof = MerkleBuilder.proof(digests, i);
            assertTrue(h.verify(proof, root, digests[i]), "leaf proof");
            assertFalse(h.verify(proof, root, digests[i] ^ bytes32(uint256(1))), "tweaked digest");
            if (proof.length > 0) {
                bytes32[] memory shorter = new bytes32[](proof.length - 1);
                for (uint256 j = 0; j < shorter.length; ++j) {
                    shorter[j] = proof[j];
                }
                assertFalse(h.verify(shorter, root, digests[i]), "truncated proof");
            }
        }
    }
}
