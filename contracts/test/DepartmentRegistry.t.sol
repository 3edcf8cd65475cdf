// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {DepartmentRegistry} from "../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

contract DepartmentRegistryTest is RegistryFixture {
    bytes32 internal constant MKT = bytes32("MKT");
    bytes32 internal constant FIN = bytes32("FIN");
    address internal mktKey;
    address internal mktKey2;
    address internal finKey;

    IDepartmentRegistry.Action internal constant REGISTER = IDepartmentRegistry.Action.Register;
    IDepartmentRegistry.Action internal constant ROTATE = IDepartmentRegistry.Action.RotateKey;
    IDepartmentRegistry.Action internal constant SUSPEND = IDepartmentRegistry.Action.Suspend;
    IDepartmentRegistry.Action internal constant REINSTATE = IDepartmentRegistry.Action.Reinstate;
    IDepartmentRegistry.Action internal constant SET_ROLES = IDepartmentRegistry.Action.SetRoles;

    function setUp() public {
        _deployRegistry();
        mktKey = makeAddr("mkt-key");
        mktKey2 = makeAddr("mkt-key-2");
        finKey = makeAddr("fin-key");
        vm.roll(100);
    }

    function _members(address a, address b) internal pure returns (address[] memory m) {
        m = new address[](2);
        m[0] = a;
        m[1] = b;
    }

    // ----------------------------------------------------------------- constructor

    function test_Constructor_State() public view {
        address[] memory members = registry.councilMembers();
        assertEq(members.length, 3, "three members");
        assertEq(members[0], m0, "member 0");
        assertEq(members[2], m2, "member 2");
        assertEq(registry.threshold(), 2, "threshold");
        assertTrue(registry.isCouncilMember(m1), "m1 member");
        assertFalse(registry.isCouncilMember(outsider), "outsider not member");
        assertEq(registry.version(), "2.6.0", "version");
        assertEq(registry.proposalCount(), 0, "no proposals");
        assertEq(registry.departmentIds().length, 0, "no departments");
        assertEq(registry.ROLE_ISSUER(), 1, "issuer bit");
        assertEq(registry.ROLE_VERIFIER(), 2, "verifier bit");
        assertEq(registry.ROLE_AUDITOR(), 4, "auditor bit");
        assertEq(registry.ROLE_APPROVER(), 8, "approver bit");
    }

    function test_RevertWhen_NoMembers() public {
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidCouncil.selector);
        new DepartmentRegistry(new address[](0), 1);
    }

    function test_RevertWhen_ZeroMember() public {
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidCouncil.selector);
        new DepartmentRegistry(_members(m0, address(0)), 1);
    }

    function test_RevertWhen_DuplicateMember() public {
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidCouncil.selector);
        new DepartmentRegistry(_members(m0, m0), 1);
    }

    function test_RevertWhen_ThresholdZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(0), 2));
        new DepartmentRegistry(_members(m0, m1), 0);
    }

    function test_RevertWhen_ThresholdAboveMembers() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(3), 2));
        new DepartmentRegistry(_members(m0, m1), 3);
    }

    // ----------------------------------------------------------------- proposals

    function test_Propose_CountsProposerAndWaits() public {
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalCreated(1, m0, REGISTER, MKT, uint64(block.timestamp + 7 days));
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalApproved(1, m0, 1);
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);

        assertEq(id, 1, "ids start at 1");
        assertEq(registry.proposalCount(), 1, "count");
        IDepartmentRegistry.Proposal memory p = registry.proposal(id);
        assertEq(uint256(p.action), uint256(REGISTER), "action");
        assertEq(p.departmentId, MKT, "department");
        assertEq(p.name, "Marketing", "name");
        assertEq(p.signer, mktKey, "signer");
        assertEq(p.roles, ISSUER, "roles");
        assertEq(p.approvals, 1, "one approval");
        assertFalse(p.executed, "not executed");
        assertEq(p.proposer, m0, "proposer");
        assertTrue(registry.hasApproved(id, m0), "proposer approved");
        assertFalse(registry.hasApproved(id, m1), "m1 not yet");
        assertEq(registry.departmentOf(mktKey), bytes32(0), "not registered yet");
    }

    function test_Approve_ExecutesAtThreshold() public {
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER | APPROVER);

        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalApproved(id, m2, 2);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.DepartmentRegistered(MKT, "Marketing", mktKey, ISSUER | APPROVER);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalExecuted(id);
        vm.prank(m2);
        registry.approve(id);

        IDepartmentRegistry.Proposal memory p = registry.proposal(id);
        assertTrue(p.executed, "executed");
        assertEq(p.approvals, 2, "two approvals");

        IDepartmentRegistry.Department memory d = registry.department(MKT);
        assertEq(d.id, MKT, "id");
        assertEq(d.name, "Marketing", "name");
        assertEq(d.signer, mktKey, "signer");
        assertEq(d.roles, ISSUER | APPROVER, "roles");
        assertTrue(d.active, "active");
        assertEq(d.registeredBlock, 100, "registered block");
        assertEq(registry.departmentOf(mktKey), MKT, "departmentOf");
        assertEq(registry.departmentIds().length, 1, "one id");
        assertEq(registry.departmentIds()[0], MKT, "id listed");
        assertTrue(registry.isActiveSigner(mktKey, ISSUER), "issuer");
        assertTrue(registry.isActiveSigner(mktKey, ISSUER | APPROVER), "issuer+approver");
        assertTrue(registry.isActiveSigner(mktKey, 0), "any role");
        assertFalse(registry.isActiveSigner(mktKey, VERIFIER), "not verifier");
    }

    function test_ThresholdOne_ExecutesInPropose() public {
        address[] memory one = new address[](1);
        one[0] = m0;
        DepartmentRegistry solo = new DepartmentRegistry(one, 1);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalExecuted(1);
        vm.prank(m0);
        solo.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        assertTrue(solo.isActiveSigner(mktKey, ISSUER), "registered at once");
        assertTrue(solo.proposal(1).executed, "executed");
    }

    function test_RevertWhen_NonMemberProposes() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, outsider));
        vm.prank(outsider);
        registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
    }

    function test_RevertWhen_NonMemberApproves() public {
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, mktKey));
        vm.prank(mktKey);
        registry.approve(id);
    }

    function test_RevertWhen_DoubleApproval() public {
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyApproved.selector, id, m0));
        vm.prank(m0);
        registry.approve(id);
    }

    function test_RevertWhen_ApprovingExecuted() public {
        uint256 id = _pass(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalAlreadyExecuted.selector, id));
        vm.prank(m2);
        registry.approve(id);
    }

    function test_RevertWhen_UnknownProposal() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownProposal.selector, 0));
        vm.prank(m0);
        registry.approve(0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownProposal.selector, 1));
        vm.prank(m0);
        registry.approve(1);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownProposal.selector, 7));
        registry.proposal(7);
    }

    /// @dev Validation runs again at execution: a competing proposal may have run first.
    function test_RevertWhen_StateChangedBeforeExecution() public {
        vm.prank(m0);
        uint256 first = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        vm.prank(m1);
        uint256 second = registry.propose(REGISTER, MKT, "Marketing bis", finKey, ISSUER);
        vm.prank(m2);
        registry.approve(first);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryDepartmentExists.selector, MKT));
        vm.prank(m2);
        registry.approve(second);
        assertFalse(registry.proposal(second).executed, "second not executed");
    }

    // ----------------------------------------------------------------- register

    function test_RevertWhen_RegisterZeroId() public {
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidDepartmentId.selector);
        vm.prank(m0);
        registry.propose(REGISTER, bytes32(0), "x", mktKey, ISSUER);
    }

    function test_RevertWhen_RegisterIdThatIsNoCode() public {
        bytes32[4] memory ids = [
            bytes32(abi.encodePacked(bytes1(0), "MKT")), // a leading zero byte: read back as no code
            bytes32(abi.encodePacked("MK", bytes1(0), "T")), // a zero byte within
            bytes32(abi.encodePacked("X", bytes1(0x0d), bytes1(0x1b), "[2K")), // control characters
            bytes32(abi.encodePacked("MK", bytes1(0xff))) // not ASCII
        ];
        for (uint256 i = 0; i < ids.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidDepartmentCode.selector, ids[i]));
            vm.prank(m0);
            registry.propose(REGISTER, ids[i], "x", mktKey, ISSUER);
        }
        // every printable ASCII character is a code's, up to 32 of them
        vm.prank(m0);
        registry.propose(REGISTER, bytes32("~ !HOSP-01 z"), "x", mktKey, ISSUER);
        vm.prank(m0);
        registry.propose(REGISTER, bytes32("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"), "x", finKey, ISSUER);
    }

    function testFuzz_RegisterAcceptsExactlyTheCodesTheLibraryWrites(bytes32 departmentId) public {
        vm.assume(departmentId != bytes32(0));
        bool code = true;
        bool ended = false;
        for (uint256 i = 0; i < 32; ++i) {
            uint8 c = uint8(departmentId[i]);
            if (c == 0) ended = true;
            else if (ended || c < 0x20 || c > 0x7e) code = false;
        }
        if (!code) {
            vm.expectRevert(
                abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidDepartmentCode.selector, departmentId)
            );
        }
        vm.prank(m0);
        registry.propose(REGISTER, departmentId, "x", mktKey, ISSUER);
    }

    function test_RevertWhen_RegisterExisting() public {
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryDepartmentExists.selector, MKT));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, "again", finKey, ISSUER);
    }

    function test_RevertWhen_RegisterZeroSigner() public {
        vm.expectRevert(IDepartmentRegistry.RegistryZeroSigner.selector);
        vm.prank(m0);
        registry.propose(REGISTER, MKT, "x", address(0), ISSUER);
    }

    function test_RevertWhen_RegisterUsedSigner() public {
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerAlreadyUsed.selector, mktKey));
        vm.prank(m0);
        registry.propose(REGISTER, FIN, "Finance", mktKey, ISSUER);
    }

    function test_RevertWhen_RegisterRotatedOutSigner() public {
        _register(MKT, mktKey, ISSUER);
        _rotate(MKT, mktKey2);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerAlreadyUsed.selector, mktKey));
        vm.prank(m0);
        registry.propose(REGISTER, FIN, "Finance", mktKey, ISSUER);
    }

    function test_RevertWhen_RegisterInvalidRoles() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidRoles.selector, uint8(0)));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, "x", mktKey, 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidRoles.selector, uint8(16 | 1)));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, "x", mktKey, 16 | 1);
    }

    function test_RevertWhen_UnknownDepartmentViews() public {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownDepartment.selector, MKT));
        registry.department(MKT);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownDepartment.selector, MKT));
        registry.keyHistory(MKT);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownDepartment.selector, MKT));
        registry.statusHistory(MKT);
    }

    function test_RevertWhen_ActingOnUnknownDepartment() public {
        for (uint8 a = 1; a <= 4; ++a) {
            vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownDepartment.selector, MKT));
            vm.prank(m0);
            registry.propose(IDepartmentRegistry.Action(a), MKT, "", finKey, ISSUER);
        }
    }

    // ----------------------------------------------------------------- rotate

    function test_RotateKey_KeepsHistory() public {
        _register(MKT, mktKey, ISSUER);
        vm.roll(150);
        vm.prank(m0);
        uint256 id = registry.propose(ROTATE, MKT, "", mktKey2, 0);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.DepartmentKeyRotated(MKT, mktKey, mktKey2);
        vm.prank(m2);
        registry.approve(id);

        assertEq(registry.department(MKT).signer, mktKey2, "new key current");
        assertEq(registry.departmentOf(mktKey), MKT, "old key still attributed");
        assertEq(registry.departmentOf(mktKey2), MKT, "new key attributed");
        assertFalse(registry.isActiveSigner(mktKey, ISSUER), "old key can no longer act");
        assertTrue(registry.isActiveSigner(mktKey2, ISSUER), "new key acts");
        assertTrue(registry.wasActiveSignerAt(mktKey, ISSUER, 149), "old key was issuer before rotation");
        assertTrue(registry.wasActiveSignerAt(mktKey, ISSUER, 100), "old key from registration");
        assertFalse(registry.wasActiveSignerAt(mktKey, ISSUER, 150), "old key ends at rotation block");
        assertFalse(registry.wasActiveSignerAt(mktKey, ISSUER, 99), "not before registration");
        assertTrue(registry.wasActiveSignerAt(mktKey2, ISSUER, 150), "new key from rotation block");
        assertFalse(registry.wasActiveSignerAt(mktKey2, ISSUER, 149), "new key not before");

        IDepartmentRegistry.KeyPeriod[] memory keys = registry.keyHistory(MKT);
        assertEq(keys.length, 2, "two periods");
        assertEq(keys[0].signer, mktKey, "first key");
        assertEq(keys[0].fromBlock, 100, "first from");
        assertEq(keys[0].toBlock, 150, "first to");
        assertEq(keys[1].signer, mktKey2, "second key");
        assertEq(keys[1].fromBlock, 150, "second from");
        assertEq(keys[1].toBlock, 0, "second current");
    }

    function test_RevertWhen_RotateToZeroOrUsedKey() public {
        _register(MKT, mktKey, ISSUER);
        _register(FIN, finKey, ISSUER);
        vm.expectRevert(IDepartmentRegistry.RegistryZeroSigner.selector);
        vm.prank(m0);
        registry.propose(ROTATE, MKT, "", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerAlreadyUsed.selector, finKey));
        vm.prank(m0);
        registry.propose(ROTATE, MKT, "", finKey, 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerAlreadyUsed.selector, mktKey));
        vm.prank(m0);
        registry.propose(ROTATE, MKT, "", mktKey, 0);
    }

    // ----------------------------------------------------------------- suspend / reinstate / roles

    function test_SuspendAndReinstate() public {
        _register(MKT, mktKey, ISSUER);
        vm.roll(120);
        vm.prank(m0);
        uint256 id = registry.propose(SUSPEND, MKT, "", address(0), 0);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.DepartmentSuspended(MKT);
        vm.prank(m1);
        registry.approve(id);
        assertFalse(registry.department(MKT).active, "suspended");
        assertFalse(registry.isActiveSigner(mktKey, ISSUER), "cannot act");
        assertFalse(registry.isActiveSigner(mktKey, 0), "cannot act at all");
        assertTrue(registry.wasActiveSignerAt(mktKey, ISSUER, 119), "was active before");
        assertFalse(registry.wasActiveSignerAt(mktKey, ISSUER, 120), "inactive from suspension");

        vm.roll(130);
        vm.prank(m0);
        id = registry.propose(REINSTATE, MKT, "", address(0), 0);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.DepartmentReinstated(MKT);
        vm.prank(m1);
        registry.approve(id);
        assertTrue(registry.isActiveSigner(mktKey, ISSUER), "acts again");
        assertFalse(registry.wasActiveSignerAt(mktKey, ISSUER, 125), "gap stays in history");
        assertTrue(registry.wasActiveSignerAt(mktKey, ISSUER, 130), "active from reinstatement");

        IDepartmentRegistry.StatusPeriod[] memory s = registry.statusHistory(MKT);
        assertEq(s.length, 3, "three periods");
        assertTrue(s[0].active && s[0].fromBlock == 100, "registered");
        assertTrue(!s[1].active && s[1].fromBlock == 120, "suspended");
        assertTrue(s[2].active && s[2].fromBlock == 130 && s[2].roles == ISSUER, "reinstated");
    }

    function test_RevertWhen_SuspendTwiceOrReinstateActive() public {
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotSuspended.selector, MKT));
        vm.prank(m0);
        registry.propose(REINSTATE, MKT, "", address(0), 0);
        _suspend(MKT);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadySuspended.selector, MKT));
        vm.prank(m0);
        registry.propose(SUSPEND, MKT, "", address(0), 0);
    }

    function test_SetRoles() public {
        _register(MKT, mktKey, ISSUER);
        vm.roll(140);
        vm.prank(m0);
        uint256 id = registry.propose(SET_ROLES, MKT, "", address(0), VERIFIER | AUDITOR);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.DepartmentRolesChanged(MKT, VERIFIER | AUDITOR);
        vm.prank(m1);
        registry.approve(id);
        assertEq(registry.department(MKT).roles, VERIFIER | AUDITOR, "roles");
        assertFalse(registry.isActiveSigner(mktKey, ISSUER), "no longer issuer");
        assertTrue(registry.isActiveSigner(mktKey, VERIFIER), "verifier");
        assertTrue(registry.wasActiveSignerAt(mktKey, ISSUER, 139), "issuer before");
        assertFalse(registry.wasActiveSignerAt(mktKey, ISSUER, 140), "not issuer after");
        assertTrue(registry.wasActiveSignerAt(mktKey, AUDITOR, 140), "auditor after");
    }

    function test_RevertWhen_SetRolesInvalidOrUnchanged() public {
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidRoles.selector, uint8(0)));
        vm.prank(m0);
        registry.propose(SET_ROLES, MKT, "", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidRoles.selector, uint8(0x80)));
        vm.prank(m0);
        registry.propose(SET_ROLES, MKT, "", address(0), 0x80);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryRolesUnchanged.selector, MKT, ISSUER));
        vm.prank(m0);
        registry.propose(SET_ROLES, MKT, "", address(0), ISSUER);
    }

    function test_UnknownSigner() public view {
        assertFalse(registry.isActiveSigner(outsider, 0), "outsider inactive");
        assertFalse(registry.wasActiveSignerAt(outsider, 0, 100), "outsider never active");
        assertEq(registry.departmentOf(outsider), bytes32(0), "no department");
    }

    // ----------------------------------------------------------------- fuzz

    /// @dev isActiveSigner(role) holds exactly when role is a subset of the department's roles.
    function testFuzz_RoleSubset(uint8 roles, uint8 asked) public {
        roles = uint8(bound(roles, 1, 15));
        _register(MKT, mktKey, roles);
        assertEq(registry.isActiveSigner(mktKey, asked), asked & roles == asked, "subset rule");
        assertEq(registry.wasActiveSignerAt(mktKey, asked, 100), asked & roles == asked, "subset rule, history");
    }

    /// @dev A chain of rotations: only the last key acts; each key answers for exactly its own period.
    function testFuzz_RotationChain(uint8 rotations, uint256 probe) public {
        uint256 n = bound(rotations, 1, 12);
        address[] memory keys = new address[](n + 1);
        keys[0] = mktKey;
        _register(MKT, mktKey, ISSUER);
        for (uint256 i = 1; i <= n; ++i) {
            vm.roll(100 + 10 * i);
            keys[i] = vm.addr(0xA000 + i);
            _rotate(MKT, keys[i]);
        }
        uint64 b = uint64(bound(probe, 90, 100 + 10 * n + 20));
        for (uint256 i = 0; i <= n; ++i) {
            assertEq(registry.departmentOf(keys[i]), MKT, "attributed forever");
            assertEq(registry.isActiveSigner(keys[i], ISSUER), i == n, "only the last key acts");
            bool inPeriod = b >= 100 + 10 * i && (i == n || b < 100 + 10 * (i + 1));
            assertEq(registry.wasActiveSignerAt(keys[i], ISSUER, b), inPeriod, "period");
        }
    }

    // ----------------------------------------------------------------- names that are text (2.5.0)

    /// @dev Proposes registering MKT under `name` as m0, expecting {RegistryNameNotText} at byte `offset`.
    function _refusedName(bytes memory name, uint256 offset) internal {
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNameNotText.selector, offset));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, string(name), mktKey, ISSUER);
    }

    /// @dev One council member, with the registry's own `propose` (red team round 59): a name that is no UTF-8 was
    /// taken, shown to no reader as text, and a council approving by number registered it.
    function test_RevertWhen_NameIsNotUtf8() public {
        _refusedName(hex"4f666669636520fffe", 7); // "Office " then 0xFF 0xFE
        _refusedName(hex"80", 0); // a continuation byte alone
        _refusedName(hex"41bf", 1);
    }

    function test_RevertWhen_NameHasOverlongEncoding() public {
        _refusedName(hex"c0af", 0); // "/" in two bytes
        _refusedName(hex"c1bf", 0);
        _refusedName(hex"41e08080", 1); // U+0000 in three bytes
        _refusedName(hex"e09fbf", 0); // U+07FF in three bytes
        _refusedName(hex"f08fbfbf", 0); // U+FFFF in four bytes
    }

    function test_RevertWhen_NameHasSurrogate() public {
        _refusedName(hex"eda080", 0); // U+D800
        _refusedName(hex"414243edbfbf", 3); // U+DFFF
        _refusedName(hex"eda0bdedb2a9", 0); // a surrogate pair written as CESU-8
    }

    function test_RevertWhen_NameHasCodePointPastUnicode() public {
        _refusedName(hex"f4908080", 0); // U+110000
        _refusedName(hex"f5808080", 0);
        _refusedName(hex"f7bfbfbf", 0);
        _refusedName(hex"f888808080", 0); // a five-byte form
        _refusedName(hex"ff", 0);
    }

    function test_RevertWhen_NameHasTruncatedSequence() public {
        _refusedName(hex"41c3", 1); // the end within a two-byte sequence
        _refusedName(hex"e282", 0);
        _refusedName(hex"f09f98", 0);
        _refusedName(hex"e24141", 0); // cut by an ASCII byte
        _refusedName(hex"f09f4141", 0);
    }

    function test_RevertWhen_NameHasC0Control() public {
        _refusedName(hex"00", 0);
        _refusedName(hex"4d6b74090a", 3); // a tab
        _refusedName(hex"4f6b0d1b5b324b", 2); // a carriage return and an escape sequence over the line
        _refusedName(hex"1f", 0);
    }

    function test_RevertWhen_NameHasDelOrC1Control() public {
        _refusedName(hex"417f", 1); // DEL
        _refusedName(hex"c280", 0); // U+0080
        _refusedName(hex"4142c29b", 2); // U+009B, the C1 control sequence introducer
        _refusedName(hex"c29f", 0);
    }

    /// @dev Every action's name is checked, not only a registration's: each is stored, hashed and shown.
    function test_RevertWhen_NameNotTextInAnyAction() public {
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNameNotText.selector, 0));
        vm.prank(m0);
        registry.propose(SUSPEND, MKT, string(bytes(hex"ff")), address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNameNotText.selector, 1));
        vm.prank(m0);
        registry.propose(IDepartmentRegistry.Action.AddMember, bytes32(0), string(bytes(hex"410d")), outsider, 0);
    }

    function test_Name_TextAccepted() public {
        // the edges of each sequence length: U+00A0, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF
        bytes memory edges = hex"c2a0dfbfe0a080ed9fbfee8080efbfbff0908080f48fbfbf";
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, string(bytes.concat("Office ", edges, " ~")), mktKey, ISSUER);
        assertEq(bytes(registry.proposal(id).name).length, 9 + edges.length, "kept whole");
        vm.prank(m0);
        registry.propose(REGISTER, FIN, "", finKey, ISSUER); // an empty name is text
    }

    /// @dev Random bytes: a name is taken exactly when the reference below (a decoder written apart from the
    /// registry's, by code points) reads it as UTF-8 text without controls, and refused at the offset it names.
    function testFuzz_NameAcceptedIffText(bytes memory name) public {
        (bool text, uint256 offset) = _referenceText(name);
        if (!text) vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNameNotText.selector, offset));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, string(name), mktKey, ISSUER);
    }

    /// @dev Any code point, encoded in its shortest form (and a surrogate as CESU-8 would): taken exactly when it is
    /// a scalar value that is no control character.
    function testFuzz_CodePointAcceptedIffScalarAndNoControl(uint24 raw) public {
        uint256 cp = uint256(raw) % 0x110000;
        bytes memory name = _encode(cp);
        bool text = !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff));
        if (!text) vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNameNotText.selector, 0));
        vm.prank(m0);
        registry.propose(REGISTER, MKT, string(name), mktKey, ISSUER);
    }

    function _encode(uint256 cp) internal pure returns (bytes memory) {
        if (cp < 0x80) return abi.encodePacked(uint8(cp));
        if (cp < 0x800) return abi.encodePacked(uint8(0xc0 | (cp >> 6)), uint8(0x80 | (cp & 0x3f)));
        if (cp < 0x10000) {
            return
                abi.encodePacked(uint8(0xe0 | (cp >> 12)), uint8(0x80 | ((cp >> 6) & 0x3f)), uint8(0x80 | (cp & 0x3f)));
        }
        return abi.encodePacked(
            uint8(0xf0 | (cp >> 18)),
            uint8(0x80 | ((cp >> 12) & 0x3f)),
            uint8(0x80 | ((cp >> 6) & 0x3f)),
            uint8(0x80 | (cp & 0x3f))
        );
    }

    /// @dev Reference: decode each sequence to its code point by the lead byte's form, then refuse what is shorter
    /// than needed, a surrogate, past U+10FFFF or a control. (true, 0) for text; else (false, the sequence's start).
    function _referenceText(bytes memory b) internal pure returns (bool, uint256) {
        uint256 i = 0;
        while (i < b.length) {
            uint256 c = uint8(b[i]);
            uint256 n;
            uint256 cp;
            if (c & 0x80 == 0) (n, cp) = (1, c);
            else if (c & 0xe0 == 0xc0) (n, cp) = (2, c & 0x1f);
            else if (c & 0xf0 == 0xe0) (n, cp) = (3, c & 0x0f);
            else if (c & 0xf8 == 0xf0) (n, cp) = (4, c & 0x07);
            else return (false, i);
            if (i + n > b.length) return (false, i);
            for (uint256 j = 1; j < n; ++j) {
                uint256 d = uint8(b[i + j]);
                if (d & 0xc0 != 0x80) return (false, i);
                cp = (cp << 6) | (d & 0x3f);
            }
            uint256 least = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
            if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return (false, i);
            if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return (false, i);
            i += n;
        }
        return (true, 0);
    }
}
