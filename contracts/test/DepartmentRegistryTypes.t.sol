// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./utils/Test.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {DepartmentRegistry} from "../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

/// @dev The council's schedule of certificate types per department: grants, revocations, their history, and the
/// attacks of a department acting outside its authority (granting itself a type, an outsider granting one).
contract DepartmentRegistryTypesTest is RegistryFixture {
    bytes32 internal constant MKT = bytes32("MKT");
    bytes32 internal constant HEALTH = bytes32("HEALTH");
    IDepartmentRegistry.Action internal constant GRANT = IDepartmentRegistry.Action.GrantType;
    IDepartmentRegistry.Action internal constant REVOKE = IDepartmentRegistry.Action.RevokeType;
    bytes32 internal constant LICENCE = keccak256("business-licence");
    bytes32 internal constant BIRTH = keccak256("birth-certificate");
    address internal mktKey;
    address internal healthKey;

    event CertificateTypeGranted(bytes32 indexed departmentId, bytes32 indexed typeHash, string certificateType);
    event CertificateTypeRevoked(bytes32 indexed departmentId, bytes32 indexed typeHash, string certificateType);

    function setUp() public {
        _deployRegistry();
        mktKey = makeAddr("mkt-key");
        healthKey = makeAddr("health-key");
        vm.roll(100);
        _register(MKT, mktKey, ISSUER);
        _register(HEALTH, healthKey, ISSUER);
    }

    function test_Grant_RecordsPeriodNameAndEvent() public {
        vm.roll(110);
        vm.prank(m0);
        uint256 id = registry.propose(GRANT, MKT, "business-licence", address(0), 0);
        assertFalse(registry.isAuthorizedForType(MKT, LICENCE), "granted before the threshold");
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeGranted(MKT, LICENCE, "business-licence");
        vm.prank(m1);
        registry.approve(id);

        assertTrue(registry.isAuthorizedForType(MKT, LICENCE), "registry.isAuthorizedForType(MKT LICENCE)");
        assertFalse(registry.isAuthorizedForType(HEALTH, LICENCE), "granted to another department");
        assertEq(
            registry.certificateTypeName(LICENCE),
            "business-licence",
            "registry.certificateTypeName(LICENCE) businesslice"
        );
        IDepartmentRegistry.TypePeriod[] memory h = registry.typeHistory(MKT);
        assertEq(h.length, 1, "h.length 1");
        assertEq(h[0].typeHash, LICENCE, "h0.typeHash LICENCE");
        assertEq(h[0].fromBlock, 110, "h0.fromBlock 110");
        assertEq(h[0].untilBlock, 0, "h0.untilBlock 0");
        assertFalse(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 109), "registry.wasAuthorizedForTypeAt(MKT LICENCE 109)"
        );
        assertTrue(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 110), "registry.wasAuthorizedForTypeAt(MKT LICENCE 110)"
        );
        assertTrue(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, type(uint64).max),
            "registry.wasAuthorizedForTypeAt(MKT LICENCE type(u"
        );
    }

    /// @dev A type revoked later does not take back what was anchored while it was held.
    function test_Revoke_ClosesPeriodPastStaysAuthorized() public {
        vm.roll(110);
        _grantType(MKT, "business-licence");
        vm.roll(120);
        vm.prank(m0);
        uint256 id = registry.propose(REVOKE, MKT, "business-licence", address(0), 0);
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeRevoked(MKT, LICENCE, "business-licence");
        vm.prank(m1);
        registry.approve(id);

        assertFalse(registry.isAuthorizedForType(MKT, LICENCE), "registry.isAuthorizedForType(MKT LICENCE)");
        assertTrue(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 115), "registry.wasAuthorizedForTypeAt(MKT LICENCE 115)"
        );
        assertTrue(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 119), "registry.wasAuthorizedForTypeAt(MKT LICENCE 119)"
        );
        assertFalse(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 120), "registry.wasAuthorizedForTypeAt(MKT LICENCE 120)"
        );
        IDepartmentRegistry.TypePeriod[] memory h = registry.typeHistory(MKT);
        assertEq(h[0].untilBlock, 120, "h0.untilBlock 120");

        // granted again: a second period, the gap stays unauthorized
        vm.roll(130);
        _grantType(MKT, "business-licence");
        h = registry.typeHistory(MKT);
        assertEq(h.length, 2, "h.length 2");
        assertEq(h[1].fromBlock, 130, "h1.fromBlock 130");
        assertFalse(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 125), "registry.wasAuthorizedForTypeAt(MKT LICENCE 125)"
        );
        assertTrue(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, 130), "registry.wasAuthorizedForTypeAt(MKT LICENCE 130)"
        );
    }

    function test_ProposalHash_CoversTheType() public {
        vm.prank(m0);
        uint256 a = registry.propose(GRANT, MKT, "business-licence", address(0), 0);
        vm.prank(m0);
        uint256 b = registry.propose(GRANT, MKT, "birth-certificate", address(0), 0);
        // same proposer, department and expiry: only the type differs, and so does what a member signs
        assertTrue(
            registry.proposalHash(a) != registry.proposalHash(b), "registry.proposalHash(a) = registry.proposalHash(b"
        );
        assertEq(registry.proposal(b).name, "birth-certificate", "registry.proposal(b).name birthcertificate");
    }

    function test_RevertWhen_GrantingHeldOrRevokingUnheld() public {
        _grantType(MKT, "business-licence");
        vm.prank(m0);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeAlreadyGranted.selector, MKT, "business-licence")
        );
        registry.propose(GRANT, MKT, "business-licence", address(0), 0);
        vm.prank(m0);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeNotGranted.selector, HEALTH, "business-licence")
        );
        registry.propose(REVOKE, HEALTH, "business-licence", address(0), 0);
    }

    /// @dev One proposal grants several types ("," between them), and one revokes several: one period and one
    /// event per type.
    function test_GrantAndRevokeList_OnePeriodAndEventPerType() public {
        vm.roll(110);
        vm.prank(m0);
        uint256 id = registry.propose(GRANT, MKT, "business-licence,birth-certificate", address(0), 0);
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeGranted(MKT, LICENCE, "business-licence");
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeGranted(MKT, BIRTH, "birth-certificate");
        vm.prank(m1);
        registry.approve(id);
        assertTrue(registry.isAuthorizedForType(MKT, LICENCE), "licence not granted");
        assertTrue(registry.isAuthorizedForType(MKT, BIRTH), "birth not granted");
        assertEq(registry.certificateTypeName(BIRTH), "birth-certificate", "name of the second type");
        IDepartmentRegistry.TypePeriod[] memory h = registry.typeHistory(MKT);
        assertEq(h.length, 2, "one period per type");
        assertEq(h[1].typeHash, BIRTH, "second period's type");

        vm.roll(120);
        vm.prank(m0);
        id = registry.propose(REVOKE, MKT, "birth-certificate,business-licence", address(0), 0);
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeRevoked(MKT, BIRTH, "birth-certificate");
        vm.expectEmit(true, true, false, true);
        emit CertificateTypeRevoked(MKT, LICENCE, "business-licence");
        vm.prank(m1);
        registry.approve(id);
        assertFalse(registry.isAuthorizedForType(MKT, LICENCE), "licence still held");
        assertFalse(registry.isAuthorizedForType(MKT, BIRTH), "birth still held");
        h = registry.typeHistory(MKT);
        assertEq(h[0].untilBlock, 120, "licence period closed");
        assertEq(h[1].untilBlock, 120, "birth period closed");
    }

    /// @dev A list is all or nothing: a repeated, malformed or already held (or, revoking, unheld) member refuses
    /// the whole proposal, and so does a list longer than MAX_TYPES_PER_PROPOSAL.
    function test_RevertWhen_ListRepeatsIsMalformedOrTooLong() public {
        _grantType(MKT, "business-licence");
        vm.startPrank(m0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryDuplicateCertificateType.selector, "permit"));
        registry.propose(GRANT, MKT, "permit,birth-certificate,permit", address(0), 0);
        string[4] memory bad = ["permit,", ",permit", "permit,,x", "permit,Bad"];
        string[4] memory culprit = ["", "", "", "Bad"];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidCertificateType.selector, culprit[i])
            );
            registry.propose(GRANT, MKT, bad[i], address(0), 0);
        }
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeAlreadyGranted.selector, MKT, "business-licence")
        );
        registry.propose(GRANT, MKT, "birth-certificate,business-licence", address(0), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeNotGranted.selector, MKT, "birth-certificate")
        );
        registry.propose(REVOKE, MKT, "business-licence,birth-certificate", address(0), 0);
        bytes memory many = "taa";
        for (uint256 i = 1; i < 33; ++i) {
            many = abi.encodePacked(many, ",t", bytes1(uint8(97 + i % 26)), bytes1(uint8(97 + i / 26)));
        }
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryTooManyCertificateTypes.selector, 33, 32));
        registry.propose(GRANT, MKT, string(many), address(0), 0);
        vm.stopPrank();
        assertFalse(registry.isAuthorizedForType(MKT, BIRTH), "part of a refused list was granted");
        assertEq(registry.typeHistory(MKT).length, 1, "a refused list left a period");
    }

    /// @dev A list grant that a competing proposal overtook for one of its types fails whole at execution.
    function test_RevertWhen_ListOvertakenForOneType() public {
        vm.prank(m0);
        uint256 list = registry.propose(GRANT, MKT, "birth-certificate,business-licence", address(0), 0);
        _grantType(MKT, "business-licence");
        vm.prank(m1);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeAlreadyGranted.selector, MKT, "business-licence")
        );
        registry.approve(list);
        assertFalse(registry.isAuthorizedForType(MKT, BIRTH), "the overtaken list granted its other type");
    }

    function test_RevertWhen_UnknownDepartmentOrBadTypeName() public {
        vm.startPrank(m0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryUnknownDepartment.selector, bytes32("NOPE")));
        registry.propose(GRANT, bytes32("NOPE"), "business-licence", address(0), 0);
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidDepartmentId.selector);
        registry.propose(GRANT, bytes32(0), "business-licence", address(0), 0);
        string[5] memory bad = ["", "-licence", "Business-Licence", "business licence", "*"];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidCertificateType.selector, bad[i]));
            registry.propose(GRANT, MKT, bad[i], address(0), 0);
        }
        string memory tooLong = string(new bytes(65));
        vm.expectRevert(); // 65 zero bytes: invalid name
        registry.propose(GRANT, MKT, tooLong, address(0), 0);
        vm.stopPrank();
    }

    /// @dev A competing proposal that granted the type first makes the later one fail at execution, not double-grant.
    function test_RevertWhen_CompetingGrantExecutedFirst() public {
        vm.prank(m0);
        uint256 first = registry.propose(GRANT, MKT, "business-licence", address(0), 0);
        vm.prank(m2);
        uint256 second = registry.propose(GRANT, MKT, "business-licence", address(0), 0);
        vm.prank(m1);
        registry.approve(first);
        vm.prank(m1);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryTypeAlreadyGranted.selector, MKT, "business-licence")
        );
        registry.approve(second);
        assertEq(registry.typeHistory(MKT).length, 1, "registry.typeHistory(MKT).length 1");
    }

    /// @dev The adversary: a department's own key, or any non-member, cannot propose a grant, approve one, or
    /// relay its own signature for one.
    function test_RevertWhen_DepartmentOrOutsiderGrantsItself() public {
        vm.prank(healthKey);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, healthKey));
        registry.propose(GRANT, HEALTH, "birth-certificate", address(0), 0);
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, outsider));
        registry.propose(GRANT, HEALTH, "birth-certificate", address(0), 0);

        vm.prank(m0);
        uint256 id = registry.propose(GRANT, HEALTH, "birth-certificate", address(0), 0);
        vm.prank(healthKey);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, healthKey));
        registry.approve(id);

        uint256 forgerKey = uint256(keccak256("health-forger"));
        address forger = vm.addr(forgerKey);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(forgerKey, registry.approvalDigest(id, block.timestamp + 1));
        IDepartmentRegistry.SignedApproval[] memory list = new IDepartmentRegistry.SignedApproval[](1);
        list[0] = IDepartmentRegistry.SignedApproval({
            member: forger, deadline: block.timestamp + 1, signature: abi.encodePacked(r, s, v)
        });
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, forger));
        registry.approveWithSignatures(id, list);
        assertFalse(registry.isAuthorizedForType(HEALTH, BIRTH), "registry.isAuthorizedForType(HEALTH BIRTH)");
    }

    /// @dev Any answer of wasAuthorizedForTypeAt agrees with the periods typeHistory lists.
    function testFuzz_AuthorizedAtMatchesHistory(uint64 grantAt, uint64 holdFor, uint64 askAt, bool revoke) public {
        grantAt = uint64(bound(grantAt, 101, 1e9));
        holdFor = uint64(bound(holdFor, 0, 1e9));
        vm.roll(grantAt);
        _grantType(MKT, "business-licence");
        if (revoke) {
            vm.roll(uint256(grantAt) + holdFor);
            _revokeType(MKT, "business-licence");
        }
        bool expected = askAt >= grantAt && (!revoke || askAt < uint256(grantAt) + holdFor);
        assertEq(
            registry.wasAuthorizedForTypeAt(MKT, LICENCE, askAt),
            expected,
            "registry.wasAuthorizedForTypeAt(MKT LICENCE askAt)"
        );
        assertFalse(registry.wasAuthorizedForTypeAt(HEALTH, LICENCE, askAt), "leaked to another department");
        assertFalse(registry.wasAuthorizedForTypeAt(MKT, BIRTH, askAt), "leaked to another type");
    }
}

/// @dev Drives grants and revocations by the council alongside a hostile department and outsider that try to grant
/// themselves types directly, with approvals, and with signatures; keeps the expected schedule as ghost state.
contract TypeAuthorityHandler is Test {
    DepartmentRegistry public registry;
    uint256[3] internal keys;
    bytes32 public constant DEPT = bytes32("HEALTH");
    address public departmentKey;
    string[3] internal types = ["birth-certificate", "business-licence", "health-permit"];
    mapping(uint256 => bool) public ghostHeld;
    uint256 public councilGrants;
    uint256 public hostileSuccesses;

    constructor() {
        address[] memory members = new address[](3);
        for (uint256 i = 0; i < 3; ++i) {
            keys[i] = 0xC0C0 + i;
            members[i] = vm.addr(keys[i]);
        }
        registry = new DepartmentRegistry(members, 2);
        departmentKey = vm.addr(0xD00D);
        vm.prank(members[0]);
        uint256 id = registry.propose(IDepartmentRegistry.Action.Register, DEPT, "Health Bureau", departmentKey, 1);
        vm.prank(members[1]);
        registry.approve(id);
    }

    function typeName(uint256 i) external view returns (string memory) {
        return types[i];
    }

    /// @dev Two members pass a grant or revocation: the ghost schedule follows.
    function councilToggles(uint256 pick) external {
        uint256 t = pick % 3;
        IDepartmentRegistry.Action action =
            ghostHeld[t] ? IDepartmentRegistry.Action.RevokeType : IDepartmentRegistry.Action.GrantType;
        vm.prank(vm.addr(keys[0]));
        uint256 id = registry.propose(action, DEPT, types[t], address(0), 0);
        vm.prank(vm.addr(keys[1]));
        registry.approve(id);
        if (!ghostHeld[t]) councilGrants += 1;
        ghostHeld[t] = !ghostHeld[t];
        vm.roll(block.number + 1);
    }

    /// @dev Two members pass one proposal granting or revoking two types at once, when both are in the same state.
    function councilTogglesPair(uint256 pick) external {
        uint256 t = pick % 3;
        uint256 u = (t + 1) % 3;
        if (ghostHeld[t] != ghostHeld[u]) return;
        IDepartmentRegistry.Action action =
            ghostHeld[t] ? IDepartmentRegistry.Action.RevokeType : IDepartmentRegistry.Action.GrantType;
        vm.prank(vm.addr(keys[0]));
        uint256 id = registry.propose(action, DEPT, string.concat(types[t], ",", types[u]), address(0), 0);
        vm.prank(vm.addr(keys[1]));
        registry.approve(id);
        if (!ghostHeld[t]) councilGrants += 2;
        ghostHeld[t] = !ghostHeld[t];
        ghostHeld[u] = !ghostHeld[u];
        vm.roll(block.number + 1);
    }

    /// @dev One member proposes a grant that stays open (below the threshold).
    function memberProposesAlone(uint256 pick) external {
        uint256 t = pick % 3;
        if (ghostHeld[t]) return;
        vm.prank(vm.addr(keys[2]));
        registry.propose(IDepartmentRegistry.Action.GrantType, DEPT, types[t], address(0), 0);
    }

    /// @dev The department's own key and an outsider try to propose, approve, or relay their own signature.
    function hostileGrants(uint256 pick, uint256 who) external {
        uint256 t = pick % 3;
        address actor = who % 2 == 0 ? departmentKey : vm.addr(0xBAD);
        uint256 actorKey = who % 2 == 0 ? 0xD00D : 0xBAD;
        vm.prank(actor);
        try registry.propose(IDepartmentRegistry.Action.GrantType, DEPT, types[t], address(0), 0) {
            hostileSuccesses += 1;
        } catch {}
        uint256 n = registry.proposalCount();
        uint256 latest = n;
        vm.prank(actor);
        try registry.approve(latest) {
            hostileSuccesses += 1;
        } catch {}
        uint256 deadline = block.timestamp + 1 days;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(actorKey, registry.approvalDigest(latest, deadline));
        IDepartmentRegistry.SignedApproval[] memory list = new IDepartmentRegistry.SignedApproval[](1);
        list[0] = IDepartmentRegistry.SignedApproval({
            member: actor, deadline: deadline, signature: abi.encodePacked(r, s, v)
        });
        try registry.approveWithSignatures(latest, list) {
            hostileSuccesses += 1;
        } catch {}
    }
}

contract DepartmentRegistryTypesInvariantTest is Test {
    TypeAuthorityHandler internal handler;

    function setUp() public {
        vm.roll(10);
        vm.warp(1_000_000);
        handler = new TypeAuthorityHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev The department holds exactly the types the council granted and did not revoke; no hostile call ever
    /// succeeded; at most one open period per type; every period is well formed.
    function invariant_OnlyCouncilGrantsTypes() public view {
        DepartmentRegistry reg = handler.registry();
        bytes32 dept = handler.DEPT();
        assertEq(handler.hostileSuccesses(), 0, "a department or outsider moved a grant");
        IDepartmentRegistry.TypePeriod[] memory h = reg.typeHistory(dept);
        assertEq(h.length, handler.councilGrants(), "a period for every council grant and no other");
        for (uint256 t = 0; t < 3; ++t) {
            bytes32 typeHash = keccak256(bytes(handler.typeName(t)));
            assertEq(
                reg.isAuthorizedForType(dept, typeHash), handler.ghostHeld(t), "schedule differs from the council's"
            );
            uint256 open;
            for (uint256 i = 0; i < h.length; ++i) {
                if (h[i].typeHash == typeHash && h[i].untilBlock == 0) open += 1;
            }
            assertEq(open, handler.ghostHeld(t) ? 1 : 0, "open periods");
        }
        for (uint256 i = 0; i < h.length; ++i) {
            assertTrue(h[i].untilBlock == 0 || h[i].untilBlock >= h[i].fromBlock, "period ends before it starts");
        }
    }
}
