// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

/// @dev The council's schedule of service items per department (red team round 85s): grants, revocations, their
/// periods, the bytes32 of a code, and a department acting outside its authority (granting itself an item).
contract DepartmentRegistryServiceItemsTest is RegistryFixture {
    bytes32 internal constant SS = bytes32("SS");
    bytes32 internal constant TAX = bytes32("TAX");
    IDepartmentRegistry.Action internal constant GRANT = IDepartmentRegistry.Action.GrantServiceItem;
    IDepartmentRegistry.Action internal constant REVOKE = IDepartmentRegistry.Action.RevokeServiceItem;
    bytes32 internal constant SUBSIDY = bytes32("440300-SHBZ-0001");
    address internal ssKey;
    address internal taxKey;

    event ServiceItemGranted(bytes32 indexed departmentId, bytes32 indexed serviceItem, string code);
    event ServiceItemRevoked(bytes32 indexed departmentId, bytes32 indexed serviceItem, string code);

    function setUp() public {
        _deployRegistry();
        ssKey = makeAddr("ss-key");
        taxKey = makeAddr("tax-key");
        vm.roll(100);
        _register(SS, ssKey, APPROVER);
        _register(TAX, taxKey, APPROVER);
    }

    function test_Grant_RecordsPeriodNameAndEvent() public {
        vm.roll(110);
        vm.prank(m0);
        uint256 id = registry.propose(GRANT, SS, "440300-SHBZ-0001", address(0), 0);
        assertFalse(registry.holdsServiceItem(SS, SUBSIDY), "granted before the threshold");
        vm.expectEmit(true, true, false, true);
        emit ServiceItemGranted(SS, SUBSIDY, "440300-SHBZ-0001");
        vm.prank(m1);
        registry.approve(id);
        assertTrue(registry.holdsServiceItem(SS, SUBSIDY), "held");
        assertFalse(registry.holdsServiceItem(TAX, SUBSIDY), "granted to another department");
        assertEq(registry.serviceItemName(SUBSIDY), "440300-SHBZ-0001", "code");
        IDepartmentRegistry.ServiceItemPeriod[] memory h = registry.serviceItemHistory(SS);
        assertEq(h.length, 1, "one period");
        assertEq(h[0].serviceItem, SUBSIDY, "item");
        assertEq(h[0].fromBlock, 111, "from the block after the grant's");
        assertEq(h[0].untilBlock, 0, "open");
        assertFalse(registry.heldServiceItemAt(SS, SUBSIDY, 110), "held in the grant's own block");
        assertTrue(registry.heldServiceItemAt(SS, SUBSIDY, 111), "held after");
        assertFalse(registry.heldServiceItemAt(TAX, SUBSIDY, 111), "another department");
    }

    function test_Revoke_EndsThePeriodAfterItsBlock() public {
        vm.roll(110);
        _grantItem(SS, "440300-SHBZ-0001");
        vm.roll(120);
        vm.prank(m0);
        uint256 id = registry.propose(REVOKE, SS, "440300-SHBZ-0001", address(0), 0);
        vm.expectEmit(true, true, false, true);
        emit ServiceItemRevoked(SS, SUBSIDY, "440300-SHBZ-0001");
        vm.prank(m1);
        registry.approve(id);
        assertFalse(registry.holdsServiceItem(SS, SUBSIDY), "still held");
        assertTrue(registry.heldServiceItemAt(SS, SUBSIDY, 120), "the revocation's block is inside");
        assertFalse(registry.heldServiceItemAt(SS, SUBSIDY, 121), "after it, outside");
        assertTrue(registry.heldServiceItemAt(SS, SUBSIDY, 115), "what was held stays held");
        vm.roll(130);
        _grantItem(SS, "440300-SHBZ-0001");
        IDepartmentRegistry.ServiceItemPeriod[] memory h = registry.serviceItemHistory(SS);
        assertEq(h.length, 2, "a second period");
        assertEq(h[1].fromBlock, 131, "second from");
        assertFalse(registry.heldServiceItemAt(SS, SUBSIDY, 125), "the gap");
    }

    function test_RevertWhen_GrantedTwiceRevokedUnheldOrNoCode() public {
        _grantItem(SS, "440300-SHBZ-0001");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDepartmentRegistry.RegistryServiceItemAlreadyGranted.selector, SS, "440300-SHBZ-0001"
            )
        );
        vm.prank(m0);
        registry.propose(GRANT, SS, "440300-SHBZ-0001", address(0), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryServiceItemNotGranted.selector, TAX, "440300-SHBZ-0001")
        );
        vm.prank(m0);
        registry.propose(REVOKE, TAX, "440300-SHBZ-0001", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidServiceItem.selector, ""));
        vm.prank(m0);
        registry.propose(GRANT, SS, "", address(0), 0);
        string memory long = string(new bytes(129));
        bytes memory b = bytes(long);
        for (uint256 i = 0; i < b.length; ++i) {
            b[i] = "a";
        }
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidServiceItem.selector, string(b)));
        vm.prank(m0);
        registry.propose(GRANT, SS, string(b), address(0), 0);
    }

    function test_GrantSeveral_OneProposal_AllOrNone() public {
        _grantItem(SS, "440300-SHBZ-0001,*,ITEM-2");
        assertTrue(registry.holdsServiceItem(SS, SUBSIDY), "first");
        assertTrue(registry.holdsServiceItem(SS, bytes32("*")), "every item");
        assertTrue(registry.holdsServiceItem(SS, bytes32("ITEM-2")), "third");
        assertEq(registry.serviceItemHistory(SS).length, 3, "a period each");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryDuplicateServiceItem.selector, "ITEM-3"));
        vm.prank(m0);
        registry.propose(GRANT, TAX, "ITEM-3,ITEM-3", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidServiceItem.selector, ""));
        vm.prank(m0);
        registry.propose(GRANT, TAX, "ITEM-3,", address(0), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryServiceItemAlreadyGranted.selector, SS, "ITEM-2")
        );
        vm.prank(m0);
        registry.propose(GRANT, SS, "ITEM-4,ITEM-2", address(0), 0);
        assertFalse(registry.holdsServiceItem(SS, bytes32("ITEM-4")), "none of a refused proposal");
        _revokeItem(SS, "*,ITEM-2");
        assertFalse(registry.holdsServiceItem(SS, bytes32("*")), "revoked");
        assertTrue(registry.holdsServiceItem(SS, SUBSIDY), "the other kept");
    }

    /// @dev A department acting outside its authority: its own key proposes (it is no council member) or executes
    /// nothing; only the council grants an item.
    function test_Attack_DepartmentCannotGrantItself() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, taxKey));
        vm.prank(taxKey);
        registry.propose(GRANT, TAX, "440300-SHBZ-0001", address(0), 0);
        assertFalse(registry.holdsServiceItem(TAX, SUBSIDY), "granted itself");
    }

    /// @dev The bytes32 of a code: ASCII up to 32 bytes padded, anything longer or not ASCII its SHA-256 (as the
    /// library's service_item_bytes).
    function testFuzz_ServiceItemOf(bytes memory code) public view {
        bool ascii = true;
        for (uint256 i = 0; i < code.length; ++i) {
            if (uint8(code[i]) >= 0x80) ascii = false;
        }
        bytes32 expected;
        if (ascii && code.length <= 32) {
            // forge-lint: disable-next-line(unsafe-typecast)
            expected = bytes32(code);
        } else {
            expected = sha256(code);
        }
        assertEq(registry.serviceItemOf(string(code)), expected, "serviceItemOf");
        assertEq(registry.serviceItemOf("*"), bytes32("*"), "every item");
        assertEq(registry.serviceItemOf("\u00e9"), sha256(bytes("\u00e9")), "not ascii");
    }
}
