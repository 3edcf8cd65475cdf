// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Sha256Merkle} from "../../src/Sha256Merkle.sol";

/// @dev Builds the same trees as the Python side: pair neighbours left to right, carry an odd last node up unchanged.
library MerkleBuilder {
    function leaves(bytes32[] memory digests) internal pure returns (bytes32[] memory level) {
        level = new bytes32[](digests.length);
        for (uint256 i = 0; i < digests.length; ++i) {
            level[i] = Sha256Merkle.leaf(digests[i]);
        }
    }

    function up(bytes32[] memory level) internal pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i = 0; i < next.length; ++i) {
            uint256 l = 2 * i;
            next[i] = l + 1 < level.length ? Sha256Merkle.node(level[l], level[l + 1]) : level[l];
        }
    }

    function root(bytes32[] memory digests) internal pure returns (bytes32) {
        bytes32[] memory level = leaves(digests);
        while (level.length > 1) level = up(level);
        return level[0];
    }

    function proof(bytes32[] memory digests, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory buffer = new bytes32[](256);
        uint256 n = 0;
        bytes32[] memory level = leaves(digests);
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) buffer[n++] = level[sibling];
            level = up(level);
            index /= 2;
        }
        out = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = buffer[i];
        }
    }
}
