// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./Test.sol";
import {DepartmentRegistry} from "../../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../../src/IDepartmentRegistry.sol";

/// @dev A 2-of-3 council and helpers that push a proposal through it.
abstract contract RegistryFixture is Test {
    DepartmentRegistry internal registry;
    address internal m0;
    address internal m1;
    address internal m2;
    address internal outsider;

    uint8 internal constant ISSUER = 1;
    uint8 internal constant VERIFIER = 2;
    uint8 internal constant AUDITOR = 4;
    uint8 internal constant APPROVER = 8;

    function _deployRegistry() internal {
        m0 = makeAddr("council0");
        m1 = makeAddr("council1");
        m2 = makeAddr("council2");
        outsider = makeAddr("outsider");
        address[] memory members = new address[](3);
        members[0] = m0;
        members[1] = m1;
        members[2] = m2;
        registry = new DepartmentRegistry(members, 2);
    }

    /// @dev Proposes as m0 and approves as m1, which executes.
    function _pass(IDepartmentRegistry.Action action, bytes32 id, string memory name, address signer, uint8 roles)
        internal
        returns (uint256 proposalId)
    {
        vm.prank(m0);
        proposalId = registry.propose(action, id, name, signer, roles);
        vm.prank(m1);
        registry.approve(proposalId);
    }

    function _register(bytes32 id, address signer, uint8 roles) internal {
        _pass(IDepartmentRegistry.Action.Register, id, _codeText(id), signer, roles);
    }

    /// @dev The code `id` as text, without its zero padding (which 2.5.0 refuses in a name: control characters).
    function _codeText(bytes32 id) internal pure returns (string memory) {
        uint256 n = 0;
        while (n < 32 && id[n] != 0) {
            ++n;
        }
        bytes memory text = new bytes(n);
        for (uint256 i = 0; i < n; ++i) {
            text[i] = id[i];
        }
        return string(text);
    }

    function _rotate(bytes32 id, address newSigner) internal {
        _pass(IDepartmentRegistry.Action.RotateKey, id, "", newSigner, 0);
    }

    function _suspend(bytes32 id) internal {
        _pass(IDepartmentRegistry.Action.Suspend, id, "", address(0), 0);
    }

    function _reinstate(bytes32 id) internal {
        _pass(IDepartmentRegistry.Action.Reinstate, id, "", address(0), 0);
    }

    function _setRoles(bytes32 id, uint8 roles) internal {
        _pass(IDepartmentRegistry.Action.SetRoles, id, "", address(0), roles);
    }

    function _grantType(bytes32 id, string memory certificateType) internal {
        _pass(IDepartmentRegistry.Action.GrantType, id, certificateType, address(0), 0);
    }

    function _revokeType(bytes32 id, string memory certificateType) internal {
        _pass(IDepartmentRegistry.Action.RevokeType, id, certificateType, address(0), 0);
    }

    function _grantItem(bytes32 id, string memory code) internal {
        _pass(IDepartmentRegistry.Action.GrantServiceItem, id, code, address(0), 0);
    }

    function _revokeItem(bytes32 id, string memory code) internal {
        _pass(IDepartmentRegistry.Action.RevokeServiceItem, id, code, address(0), 0);
    }
}
