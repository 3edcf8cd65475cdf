// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDepartmentRegistry, Roles} from "./IDepartmentRegistry.sol";

/// @title DepartmentRegistry
/// @notice M-of-N council governing departments, their role bits and their signing keys, with full key and status
/// history. Members vote with their own transactions or with EIP-712 signatures that anyone may relay; proposals
/// expire, can be rejected or cancelled, and the council itself changes only by proposal. The council also keeps
/// the schedule of certificate types each department may issue, and of the service items each may decide on, with the
/// blocks each grant held. A key belongs to one department forever: after rotation it can no longer act, but what it anchored
/// while active stays attributable through {departmentOf} and {wasActiveSignerAt}.
contract DepartmentRegistry is IDepartmentRegistry {
    /// @notice May anchor certificate batches.
    uint8 public constant ROLE_ISSUER = Roles.ISSUER;
    /// @notice May verify certificates.
    uint8 public constant ROLE_VERIFIER = Roles.VERIFIER;
    /// @notice May audit logs.
    uint8 public constant ROLE_AUDITOR = Roles.AUDITOR;
    /// @notice May publish approval rule sets.
    uint8 public constant ROLE_APPROVER = Roles.APPROVER;

    /// @dev Department state packed into one slot (signer, roles, active, registeredBlock) plus the name.
    struct DepartmentRecord {
        address signer;
        uint8 roles;
        bool active;
        uint64 registeredBlock;
        string name;
    }

    /// @notice Seconds (block timestamp) a proposal stays open.
    uint64 public constant PROPOSAL_LIFETIME = 7 days;
    /// @notice Largest council: approvals are counted in a uint8 and removal scans the member list.
    uint256 public constant MAX_COUNCIL = 32;
    /// @notice Most certificate types one GrantType or RevokeType proposal may name.
    uint256 public constant MAX_TYPES_PER_PROPOSAL = 32;
    /// @notice Most service items one GrantServiceItem or RevokeServiceItem proposal may name.
    uint256 public constant MAX_ITEMS_PER_PROPOSAL = 32;
    /// @notice EIP-712 type of a signed approval.
    bytes32 public constant APPROVAL_TYPEHASH =
        keccak256("Approval(uint256 proposalId,bytes32 proposalHash,uint64 councilEpoch,uint256 deadline)");
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _NAME_HASH = keccak256("DepartmentRegistry");
    bytes32 private constant _VERSION_HASH = keccak256("2");
    /// @dev secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 private constant _HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    address[] private _council;
    mapping(address account => bool) private _isCouncilMember;
    uint8 private _threshold;
    uint64 private _councilEpoch = 1;

    mapping(bytes32 departmentId => DepartmentRecord) private _departments;
    mapping(address signer => bytes32 departmentId) private _departmentOf;
    bytes32[] private _departmentIds;
    mapping(bytes32 departmentId => KeyPeriod[]) private _keyHistory;
    mapping(bytes32 departmentId => StatusPeriod[]) private _statusHistory;

    mapping(bytes32 departmentId => TypePeriod[]) private _typeHistory;
    /// @dev 1 + index in `_typeHistory` of the open period of a type the department holds now; 0 when not held.
    mapping(bytes32 departmentId => mapping(bytes32 typeHash => uint256)) private _heldType;
    mapping(bytes32 typeHash => string) private _typeNames;

    uint256 private _proposalCount;
    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(address member => bool)) private _approved;
    mapping(uint256 proposalId => mapping(address member => bool)) private _rejected;

    // appended in 2.6.0 (red team round 85s): the service items each department may decide on
    mapping(bytes32 departmentId => ServiceItemPeriod[]) private _itemHistory;
    /// @dev 1 + index in `_itemHistory` of the open period of an item the department holds now; 0 when not held.
    mapping(bytes32 departmentId => mapping(bytes32 serviceItem => uint256)) private _heldItem;
    mapping(bytes32 serviceItem => string) private _itemNames;

    /// @notice Sets up the council; it cannot change afterwards.
    /// @param members Council member addresses (nonzero, distinct, at least one).
    /// @param threshold_ Approvals needed to execute a proposal (1..members.length).
    constructor(address[] memory members, uint8 threshold_) {
        if (members.length == 0 || members.length > MAX_COUNCIL) revert RegistryInvalidCouncil();
        if (threshold_ == 0 || threshold_ > members.length) {
            revert RegistryInvalidThreshold(threshold_, members.length);
        }
        for (uint256 i = 0; i < members.length; ++i) {
            address member = members[i];
            if (member == address(0) || _isCouncilMember[member]) revert RegistryInvalidCouncil();
            _isCouncilMember[member] = true;
            _council.push(member);
        }
        _threshold = threshold_;
    }

    modifier onlyCouncil() {
        _checkCouncilMember(msg.sender);
        _;
    }

    // ----------------------------------------------------------------- council

    /// @inheritdoc IDepartmentRegistry
    function propose(Action action, bytes32 departmentId, string calldata name, address signer, uint8 roles)
        external
        onlyCouncil
        returns (uint256 proposalId)
    {
        _validate(action, departmentId, name, signer, roles);

        proposalId = ++_proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.action = action;
        p.departmentId = departmentId;
        p.name = name;
        p.signer = signer;
        p.roles = roles;
        p.proposer = msg.sender;
        uint64 expiresAt = uint64(block.timestamp) + PROPOSAL_LIFETIME;
        p.expiresAt = expiresAt;
        p.councilEpoch = _councilEpoch;
        emit ProposalCreated(proposalId, msg.sender, action, departmentId, expiresAt);

        _approve(proposalId, p, msg.sender);
    }

    /// @inheritdoc IDepartmentRegistry
    function approve(uint256 proposalId) external onlyCouncil {
        Proposal storage p = _open(proposalId);
        _checkNotVoted(proposalId, msg.sender);
        _approve(proposalId, p, msg.sender);
    }

    /// @inheritdoc IDepartmentRegistry
    function approveProposal(uint256 proposalId, bytes32 expectedHash) external onlyCouncil {
        Proposal storage p = _open(proposalId);
        _checkUnchanged(proposalId, p, expectedHash);
        _checkNotVoted(proposalId, msg.sender);
        _approve(proposalId, p, msg.sender);
    }

    /// @inheritdoc IDepartmentRegistry
    function approveWithSignatures(uint256 proposalId, SignedApproval[] calldata approvals) external {
        Proposal storage p = _open(proposalId);
        for (uint256 i = 0; i < approvals.length; ++i) {
            SignedApproval calldata a = approvals[i];
            if (block.timestamp > a.deadline) revert RegistrySignatureExpired(a.member, a.deadline);
            address recovered = _recover(_approvalDigest(proposalId, p, a.deadline), a.signature);
            if (recovered != a.member || recovered == address(0)) revert RegistryInvalidSignature(a.member, recovered);
            _checkCouncilMember(recovered);
            // Counted already (the member's own vote, the same signature relayed ahead of this batch, or twice in
            // it): skipped, so that one signature sent first cannot void the others' submission (red team round 59).
            if (_approved[proposalId][recovered]) continue;
            if (_rejected[proposalId][recovered]) revert RegistryAlreadyRejected(proposalId, recovered);
            _approve(proposalId, p, recovered);
            if (p.executed) return;
        }
    }

    /// @inheritdoc IDepartmentRegistry
    function reject(uint256 proposalId) external onlyCouncil {
        _reject(proposalId, _open(proposalId));
    }

    /// @inheritdoc IDepartmentRegistry
    function rejectProposal(uint256 proposalId, bytes32 expectedHash) external onlyCouncil {
        Proposal storage p = _open(proposalId);
        _checkUnchanged(proposalId, p, expectedHash);
        _reject(proposalId, p);
    }

    /// @inheritdoc IDepartmentRegistry
    function cancel(uint256 proposalId) external {
        Proposal storage p = _open(proposalId);
        if (p.proposer != msg.sender) revert RegistryNotProposer(proposalId, p.proposer, msg.sender);
        p.cancelled = true;
        emit ProposalCancelled(proposalId, msg.sender);
    }

    // ----------------------------------------------------------------- views

    /// @inheritdoc IDepartmentRegistry
    function department(bytes32 departmentId) external view returns (Department memory) {
        DepartmentRecord storage d = _existing(departmentId);
        return Department({
            id: departmentId,
            name: d.name,
            signer: d.signer,
            roles: d.roles,
            active: d.active,
            registeredBlock: d.registeredBlock
        });
    }

    /// @inheritdoc IDepartmentRegistry
    function departmentOf(address signer) external view returns (bytes32) {
        return _departmentOf[signer];
    }

    /// @inheritdoc IDepartmentRegistry
    function departmentIds() external view returns (bytes32[] memory) {
        return _departmentIds;
    }

    /// @inheritdoc IDepartmentRegistry
    function keyHistory(bytes32 departmentId) external view returns (KeyPeriod[] memory) {
        _existing(departmentId);
        return _keyHistory[departmentId];
    }

    /// @inheritdoc IDepartmentRegistry
    function statusHistory(bytes32 departmentId) external view returns (StatusPeriod[] memory) {
        _existing(departmentId);
        return _statusHistory[departmentId];
    }

    /// @inheritdoc IDepartmentRegistry
    function typeHistory(bytes32 departmentId) external view returns (TypePeriod[] memory) {
        _existing(departmentId);
        return _typeHistory[departmentId];
    }

    /// @inheritdoc IDepartmentRegistry
    function certificateTypeName(bytes32 typeHash) external view returns (string memory) {
        return _typeNames[typeHash];
    }

    /// @inheritdoc IDepartmentRegistry
    function isAuthorizedForType(bytes32 departmentId, bytes32 typeHash) external view returns (bool) {
        return _heldType[departmentId][typeHash] != 0;
    }

    /// @inheritdoc IDepartmentRegistry
    function wasAuthorizedForTypeAt(bytes32 departmentId, bytes32 typeHash, uint64 blockNumber)
        external
        view
        returns (bool)
    {
        TypePeriod[] storage periods = _typeHistory[departmentId];
        for (uint256 i = 0; i < periods.length; ++i) {
            TypePeriod storage t = periods[i];
            if (
                t.typeHash == typeHash && t.fromBlock <= blockNumber
                    && (t.untilBlock == 0 || blockNumber < t.untilBlock)
            ) return true;
        }
        return false;
    }

    /// @inheritdoc IDepartmentRegistry
    function serviceItemHistory(bytes32 departmentId) external view returns (ServiceItemPeriod[] memory) {
        _existing(departmentId);
        return _itemHistory[departmentId];
    }

    /// @inheritdoc IDepartmentRegistry
    function serviceItemName(bytes32 serviceItem) external view returns (string memory) {
        return _itemNames[serviceItem];
    }

    /// @inheritdoc IDepartmentRegistry
    function serviceItemOf(string calldata code) external pure returns (bytes32) {
        return _serviceItemOf(code);
    }

    /// @inheritdoc IDepartmentRegistry
    function holdsServiceItem(bytes32 departmentId, bytes32 serviceItem) external view returns (bool) {
        return _heldItem[departmentId][serviceItem] != 0;
    }

    /// @inheritdoc IDepartmentRegistry
    function heldServiceItemAt(bytes32 departmentId, bytes32 serviceItem, uint64 blockNumber)
        external
        view
        returns (bool)
    {
        ServiceItemPeriod[] storage periods = _itemHistory[departmentId];
        for (uint256 i = 0; i < periods.length; ++i) {
            ServiceItemPeriod storage t = periods[i];
            if (
                t.serviceItem == serviceItem && t.fromBlock <= blockNumber
                    && (t.untilBlock == 0 || blockNumber < t.untilBlock)
            ) return true;
        }
        return false;
    }

    /// @inheritdoc IDepartmentRegistry
    function isActiveSigner(address signer, uint8 role) external view returns (bool) {
        bytes32 departmentId = _departmentOf[signer];
        if (departmentId == bytes32(0)) return false;
        DepartmentRecord storage d = _departments[departmentId];
        return d.signer == signer && d.active && (d.roles & role) == role;
    }

    /// @inheritdoc IDepartmentRegistry
    function wasActiveSignerAt(address signer, uint8 role, uint64 blockNumber) external view returns (bool) {
        bytes32 departmentId = _departmentOf[signer];
        if (departmentId == bytes32(0)) return false;

        // A key is used by exactly one period of one department, so the first match is the only one.
        KeyPeriod[] storage keys = _keyHistory[departmentId];
        bool held = false;
        for (uint256 i = 0; i < keys.length; ++i) {
            KeyPeriod storage k = keys[i];
            if (k.signer == signer) {
                held = k.fromBlock <= blockNumber && (k.toBlock == 0 || blockNumber < k.toBlock);
                break;
            }
        }
        if (!held) return false;

        StatusPeriod[] storage statuses = _statusHistory[departmentId];
        for (uint256 i = statuses.length; i > 0; --i) {
            StatusPeriod storage s = statuses[i - 1];
            if (s.fromBlock <= blockNumber) return s.active && (s.roles & role) == role;
        }
        return false;
    }

    /// @inheritdoc IDepartmentRegistry
    function councilMembers() external view returns (address[] memory) {
        return _council;
    }

    /// @inheritdoc IDepartmentRegistry
    function threshold() external view returns (uint8) {
        return _threshold;
    }

    /// @inheritdoc IDepartmentRegistry
    function isCouncilMember(address account) external view returns (bool) {
        return _isCouncilMember[account];
    }

    /// @inheritdoc IDepartmentRegistry
    function proposal(uint256 proposalId) external view returns (Proposal memory) {
        return _known(proposalId);
    }

    /// @inheritdoc IDepartmentRegistry
    function hasApproved(uint256 proposalId, address member) external view returns (bool) {
        return _approved[proposalId][member];
    }

    /// @inheritdoc IDepartmentRegistry
    function hasRejected(uint256 proposalId, address member) external view returns (bool) {
        return _rejected[proposalId][member];
    }

    /// @inheritdoc IDepartmentRegistry
    function proposalState(uint256 proposalId) external view returns (ProposalState) {
        return _state(_known(proposalId));
    }

    /// @inheritdoc IDepartmentRegistry
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IDepartmentRegistry
    function councilEpoch() external view returns (uint64) {
        return _councilEpoch;
    }

    /// @inheritdoc IDepartmentRegistry
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    /// @inheritdoc IDepartmentRegistry
    function proposalHash(uint256 proposalId) external view returns (bytes32) {
        return _proposalHash(_known(proposalId));
    }

    /// @inheritdoc IDepartmentRegistry
    function approvalDigest(uint256 proposalId, uint256 deadline) external view returns (bytes32) {
        return _approvalDigest(proposalId, _known(proposalId), deadline);
    }

    /// @inheritdoc IDepartmentRegistry
    function version() external pure returns (string memory) {
        return "2.6.0";
    }

    // ----------------------------------------------------------------- internals

    function _checkCouncilMember(address account) private view {
        if (!_isCouncilMember[account]) revert RegistryNotCouncilMember(account);
    }

    function _known(uint256 proposalId) private view returns (Proposal storage) {
        if (proposalId == 0 || proposalId > _proposalCount) revert RegistryUnknownProposal(proposalId);
        return _proposals[proposalId];
    }

    function _state(Proposal storage p) private view returns (ProposalState) {
        if (p.executed) return ProposalState.Executed;
        if (p.cancelled) return ProposalState.Cancelled;
        if (p.councilEpoch != _councilEpoch) return ProposalState.Stale;
        if (_council.length - p.rejections < _threshold) return ProposalState.Defeated;
        if (block.timestamp >= p.expiresAt) return ProposalState.Expired;
        return ProposalState.Open;
    }

    /// @dev The proposal, when it may still be voted on; otherwise the error that says why not.
    function _open(uint256 proposalId) private view returns (Proposal storage p) {
        p = _known(proposalId);
        ProposalState state = _state(p);
        if (state == ProposalState.Open) return p;
        if (state == ProposalState.Executed) revert RegistryProposalAlreadyExecuted(proposalId);
        if (state == ProposalState.Cancelled) revert RegistryProposalCancelled(proposalId);
        if (state == ProposalState.Stale) revert RegistryProposalStale(proposalId, p.councilEpoch, _councilEpoch);
        if (state == ProposalState.Defeated) revert RegistryProposalDefeated(proposalId);
        revert RegistryProposalExpired(proposalId, p.expiresAt);
    }

    /// @dev Reverts unless `p` (number `proposalId`) is the content whose hash the voter names.
    function _checkUnchanged(uint256 proposalId, Proposal storage p, bytes32 expectedHash) private view {
        bytes32 actual = _proposalHash(p);
        if (actual != expectedHash) revert RegistryProposalChanged(proposalId, expectedHash, actual);
    }

    function _checkNotVoted(uint256 proposalId, address member) private view {
        if (_approved[proposalId][member]) revert RegistryAlreadyApproved(proposalId, member);
        if (_rejected[proposalId][member]) revert RegistryAlreadyRejected(proposalId, member);
    }

    function _proposalHash(Proposal storage p) private view returns (bytes32) {
        return keccak256(
            abi.encode(p.action, p.departmentId, keccak256(bytes(p.name)), p.signer, p.roles, p.proposer, p.expiresAt)
        );
    }

    function _approvalDigest(uint256 proposalId, Proposal storage p, uint256 deadline) private view returns (bytes32) {
        bytes32 structHash =
            keccak256(abi.encode(APPROVAL_TYPEHASH, proposalId, _proposalHash(p), p.councilEpoch, deadline));
        return keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev ecrecover of a 65-byte r || s || v signature; 0 for a malformed or malleable (high s) one.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > _HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function _existing(bytes32 departmentId) private view returns (DepartmentRecord storage d) {
        d = _departments[departmentId];
        if (d.signer == address(0)) revert RegistryUnknownDepartment(departmentId);
    }

    function _checkRoles(uint8 roles) private pure {
        if (roles == 0 || roles & ~Roles.ALL != 0) revert RegistryInvalidRoles(roles);
    }

    function _checkFreshSigner(address signer) private view {
        if (signer == address(0)) revert RegistryZeroSigner();
        if (_departmentOf[signer] != bytes32(0)) revert RegistrySignerAlreadyUsed(signer);
        if (_isCouncilMember[signer]) revert RegistrySignerIsCouncilMember(signer);
    }

    function _isCouncilChange(Action action) private pure returns (bool) {
        return action == Action.AddMember || action == Action.RemoveMember || action == Action.SetThreshold;
    }

    /// @dev The certificate types a GrantType or RevokeType proposal names: its `name` is one type name or several
    /// separated by ",". Each must be a type name as docs/format.md defines it (`[a-z0-9][a-z0-9-]{0,63}`), none may
    /// repeat, and there are at most {MAX_TYPES_PER_PROPOSAL}.
    function _typeList(string memory list) private pure returns (string[] memory types) {
        bytes memory b = bytes(list);
        uint256 count = 1;
        for (uint256 i = 0; i < b.length; ++i) {
            if (b[i] == ",") ++count;
        }
        if (count > MAX_TYPES_PER_PROPOSAL) revert RegistryTooManyCertificateTypes(count, MAX_TYPES_PER_PROPOSAL);
        types = new string[](count);
        uint256 start = 0;
        uint256 n = 0;
        for (uint256 i = 0; i <= b.length; ++i) {
            if (i < b.length && b[i] != ",") continue;
            bytes memory one = new bytes(i - start);
            for (uint256 j = start; j < i; ++j) {
                one[j - start] = b[j];
            }
            string memory certificateType = string(one);
            _checkTypeName(certificateType);
            bytes32 typeHash = keccak256(one);
            for (uint256 k = 0; k < n; ++k) {
                if (keccak256(bytes(types[k])) == typeHash) revert RegistryDuplicateCertificateType(certificateType);
            }
            types[n++] = certificateType;
            start = i + 1;
        }
    }

    /// @dev The service items a GrantServiceItem or RevokeServiceItem proposal names: its `name` is one code or several
    /// separated by "," (a code holding "," cannot be granted). Each is 1-128 bytes, none repeats (nor names the same
    /// bytes32 as another), and there are at most {MAX_ITEMS_PER_PROPOSAL}.
    function _itemList(string memory list) private pure returns (string[] memory codes) {
        bytes memory b = bytes(list);
        uint256 count = 1;
        for (uint256 i = 0; i < b.length; ++i) {
            if (b[i] == ",") ++count;
        }
        if (count > MAX_ITEMS_PER_PROPOSAL) revert RegistryTooManyServiceItems(count, MAX_ITEMS_PER_PROPOSAL);
        codes = new string[](count);
        bytes32[] memory seen = new bytes32[](count);
        uint256 start = 0;
        uint256 n = 0;
        for (uint256 i = 0; i <= b.length; ++i) {
            if (i < b.length && b[i] != ",") continue;
            bytes memory one = new bytes(i - start);
            for (uint256 j = start; j < i; ++j) {
                one[j - start] = b[j];
            }
            string memory code = string(one);
            if (one.length == 0 || one.length > 128) revert RegistryInvalidServiceItem(code);
            bytes32 item = _serviceItemOf(code);
            for (uint256 k = 0; k < n; ++k) {
                if (seen[k] == item) revert RegistryDuplicateServiceItem(code);
            }
            seen[n] = item;
            codes[n++] = code;
            start = i + 1;
        }
    }

    /// @dev The bytes32 of service item `code` as BatchLog records it: ASCII of at most 32 bytes right-padded with
    /// zero bytes, anything else SHA-256 of its bytes (ledger.onchain.ids.service_item_bytes).
    function _serviceItemOf(string memory code) private pure returns (bytes32) {
        bytes memory b = bytes(code);
        if (b.length <= 32) {
            bool ascii = true;
            for (uint256 i = 0; i < b.length; ++i) {
                if (uint8(b[i]) >= 0x80) {
                    ascii = false;
                    break;
                }
            }
            // casting to 'bytes32' is safe because b holds at most 32 bytes (right-padded with zero bytes)
            // forge-lint: disable-next-line(unsafe-typecast)
            if (ascii) return bytes32(b);
        }
        return sha256(b);
    }

    /// @dev A certificate type name as docs/format.md defines it: `[a-z0-9][a-z0-9-]{0,63}`.
    function _checkTypeName(string memory certificateType) private pure {
        bytes memory b = bytes(certificateType);
        if (b.length == 0 || b.length > 64 || b[0] == "-") revert RegistryInvalidCertificateType(certificateType);
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            if (!((c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-")) {
                revert RegistryInvalidCertificateType(certificateType);
            }
        }
    }

    /// @dev Reverts with the specific error when `action` could not be applied to the current state.
    function _validate(Action action, bytes32 departmentId, string memory name, address signer, uint8 roles)
        private
        view
    {
        _checkText(name);
        if (_isCouncilChange(action)) {
            _validateCouncilChange(action, departmentId, signer, roles);
            return;
        }
        if (departmentId == bytes32(0)) revert RegistryInvalidDepartmentId();
        if (action == Action.Register) {
            _checkDepartmentCode(departmentId);
            if (_departments[departmentId].signer != address(0)) revert RegistryDepartmentExists(departmentId);
            _checkFreshSigner(signer);
            _checkRoles(roles);
            return;
        }
        DepartmentRecord storage d = _existing(departmentId);
        if (action == Action.GrantType || action == Action.RevokeType) {
            string[] memory types = _typeList(name);
            for (uint256 i = 0; i < types.length; ++i) {
                bool held = _heldType[departmentId][keccak256(bytes(types[i]))] != 0;
                if (action == Action.GrantType && held) revert RegistryTypeAlreadyGranted(departmentId, types[i]);
                if (action == Action.RevokeType && !held) revert RegistryTypeNotGranted(departmentId, types[i]);
            }
        } else if (action == Action.GrantServiceItem || action == Action.RevokeServiceItem) {
            string[] memory codes = _itemList(name);
            for (uint256 i = 0; i < codes.length; ++i) {
                bool held = _heldItem[departmentId][_serviceItemOf(codes[i])] != 0;
                if (action == Action.GrantServiceItem && held) {
                    revert RegistryServiceItemAlreadyGranted(departmentId, codes[i]);
                }
                if (action == Action.RevokeServiceItem && !held) {
                    revert RegistryServiceItemNotGranted(departmentId, codes[i]);
                }
            }
        } else if (action == Action.RotateKey) {
            _checkFreshSigner(signer);
        } else if (action == Action.Suspend) {
            if (!d.active) revert RegistryAlreadySuspended(departmentId);
        } else if (action == Action.Reinstate) {
            if (d.active) revert RegistryNotSuspended(departmentId);
        } else {
            _checkRoles(roles);
            if (d.roles == roles) revert RegistryRolesUnchanged(departmentId, roles);
        }
    }

    /// @dev Reverts with {RegistryNameNotText} unless `text` is UTF-8 (RFC 3629: shortest form, no surrogates, nothing
    /// past U+10FFFF) holding no control character (C0 U+0000-001F, DEL U+007F, C1 U+0080-009F). A proposal's name is
    /// shown to the members who vote on it and hashed by every reader: bytes no reader decodes, or a carriage return
    /// writing over the rest of a line, would have the council approve by number what none of them could read.
    function _checkText(string memory text) private pure {
        bytes memory b = bytes(text);
        uint256 i = 0;
        while (i < b.length) {
            uint8 c = uint8(b[i]);
            if (c >= 0x20 && c < 0x7f) {
                ++i;
                continue;
            }
            // the sequence's length, and the range its second byte must lie in (the others: 0x80-0xBF)
            uint256 length;
            uint8 low = 0x80;
            uint8 high = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                length = 2;
                if (c == 0xc2) low = 0xa0; // U+0080-009F are the C1 controls
            } else if (c >= 0xe0 && c <= 0xef) {
                length = 3;
                if (c == 0xe0) low = 0xa0; // overlong below
                else if (c == 0xed) high = 0x9f; // U+D800-DFFF: surrogates above
            } else if (c >= 0xf0 && c <= 0xf4) {
                length = 4;
                if (c == 0xf0) low = 0x90; // overlong below
                else if (c == 0xf4) high = 0x8f; // past U+10FFFF above
            } else {
                revert RegistryNameNotText(i); // a control, a continuation byte, 0xC0/0xC1 or 0xF5-0xFF
            }
            if (i + length > b.length) revert RegistryNameNotText(i);
            uint8 second = uint8(b[i + 1]);
            if (second < low || second > high) revert RegistryNameNotText(i);
            for (uint256 j = 2; j < length; ++j) {
                uint8 next = uint8(b[i + j]);
                if (next < 0x80 || next > 0xbf) revert RegistryNameNotText(i);
            }
            i += length;
        }
    }

    /// @dev Reverts unless `departmentId` (nonzero) is a department code: printable ASCII from its first byte, then
    /// zero bytes only. Any other id would be read as text no department can be named by, or as another's.
    function _checkDepartmentCode(bytes32 departmentId) private pure {
        bool ended = false;
        for (uint256 i = 0; i < 32; ++i) {
            uint8 c = uint8(departmentId[i]);
            if (c == 0) ended = true;
            else if (ended || c < 0x20 || c > 0x7e) revert RegistryInvalidDepartmentCode(departmentId);
        }
    }

    function _validateCouncilChange(Action action, bytes32 departmentId, address account, uint8 value) private view {
        if (departmentId != bytes32(0)) revert RegistryInvalidDepartmentId();
        uint256 size = _council.length;
        if (action == Action.AddMember) {
            if (account == address(0) || size >= MAX_COUNCIL) revert RegistryInvalidCouncil();
            if (_isCouncilMember[account]) revert RegistryAlreadyCouncilMember(account);
            bytes32 departmentId_ = _departmentOf[account];
            if (departmentId_ != bytes32(0)) revert RegistryMemberIsDepartmentKey(account, departmentId_);
        } else if (action == Action.RemoveMember) {
            _checkCouncilMember(account);
            if (size - 1 < _threshold) revert RegistryInvalidThreshold(_threshold, size - 1);
        } else {
            if (value == 0 || value > size || value == _threshold) revert RegistryInvalidThreshold(value, size);
        }
    }

    /// @dev Records the caller's vote against `p`.
    function _reject(uint256 proposalId, Proposal storage p) private {
        _checkNotVoted(proposalId, msg.sender);
        _rejected[proposalId][msg.sender] = true;
        uint8 rejections = ++p.rejections;
        emit ProposalRejected(proposalId, msg.sender, rejections);
        // The threshold is out of reach once fewer members than it are left who have not rejected.
        if (_council.length - rejections < _threshold) emit ProposalDefeated(proposalId);
    }

    function _approve(uint256 proposalId, Proposal storage p, address member) private {
        _approved[proposalId][member] = true;
        uint8 approvals = ++p.approvals;
        emit ProposalApproved(proposalId, member, approvals);
        if (approvals >= _threshold) _execute(proposalId, p);
    }

    /// @dev Applies a council change; every proposal made under the previous epoch becomes stale.
    function _executeCouncilChange(Action action, address account, uint8 value) private {
        uint64 epoch = ++_councilEpoch;
        if (action == Action.AddMember) {
            _isCouncilMember[account] = true;
            _council.push(account);
            emit CouncilMemberAdded(account, epoch);
        } else if (action == Action.RemoveMember) {
            _isCouncilMember[account] = false;
            uint256 last = _council.length - 1;
            for (uint256 i = 0; i < last; ++i) {
                if (_council[i] == account) {
                    _council[i] = _council[last];
                    break;
                }
            }
            _council.pop();
            emit CouncilMemberRemoved(account, epoch);
        } else {
            _threshold = value;
            emit ThresholdChanged(value, epoch);
        }
    }

    function _execute(uint256 proposalId, Proposal storage p) private {
        Action action = p.action;
        bytes32 departmentId = p.departmentId;
        address signer = p.signer;
        uint8 roles = p.roles;
        // State may have moved since the proposal was made (e.g. a competing proposal ran first).
        _validate(action, departmentId, p.name, signer, roles);

        p.executed = true;
        if (_isCouncilChange(action)) {
            _executeCouncilChange(action, signer, roles);
            emit ProposalExecuted(proposalId);
            return;
        }

        uint64 now_ = uint64(block.number);
        DepartmentRecord storage d = _departments[departmentId];
        if (action == Action.Register) {
            d.signer = signer;
            d.roles = roles;
            d.active = true;
            d.registeredBlock = now_;
            d.name = p.name;
            _departmentOf[signer] = departmentId;
            _departmentIds.push(departmentId);
            _keyHistory[departmentId].push(KeyPeriod({signer: signer, fromBlock: now_, toBlock: 0}));
            _statusHistory[departmentId].push(StatusPeriod({active: true, roles: roles, fromBlock: now_}));
            emit DepartmentRegistered(departmentId, p.name, signer, roles);
        } else if (action == Action.RotateKey) {
            address previous = d.signer;
            KeyPeriod[] storage keys = _keyHistory[departmentId];
            keys[keys.length - 1].toBlock = now_;
            keys.push(KeyPeriod({signer: signer, fromBlock: now_, toBlock: 0}));
            d.signer = signer;
            _departmentOf[signer] = departmentId;
            emit DepartmentKeyRotated(departmentId, previous, signer);
        } else if (action == Action.GrantType) {
            string[] memory types = _typeList(p.name);
            TypePeriod[] storage periods = _typeHistory[departmentId];
            for (uint256 i = 0; i < types.length; ++i) {
                bytes32 typeHash = keccak256(bytes(types[i]));
                // from the next block: an anchoring in this block, even one ordered before the grant, is outside
                periods.push(TypePeriod({typeHash: typeHash, fromBlock: now_ + 1, untilBlock: 0}));
                _heldType[departmentId][typeHash] = periods.length;
                if (bytes(_typeNames[typeHash]).length == 0) _typeNames[typeHash] = types[i];
                emit CertificateTypeGranted(departmentId, typeHash, types[i]);
            }
        } else if (action == Action.RevokeType) {
            string[] memory types = _typeList(p.name);
            for (uint256 i = 0; i < types.length; ++i) {
                bytes32 typeHash = keccak256(bytes(types[i]));
                // until the end of this block: an anchoring ordered before the revocation in this block stays
                // inside (one ordered after it gains nothing the department could not get by being ordered before)
                _typeHistory[departmentId][_heldType[departmentId][typeHash] - 1].untilBlock = now_ + 1;
                delete _heldType[departmentId][typeHash];
                emit CertificateTypeRevoked(departmentId, typeHash, types[i]);
            }
        } else if (action == Action.GrantServiceItem) {
            string[] memory codes = _itemList(p.name);
            ServiceItemPeriod[] storage items = _itemHistory[departmentId];
            for (uint256 i = 0; i < codes.length; ++i) {
                bytes32 item = _serviceItemOf(codes[i]);
                // from the next block, as a type: a publication in this block, even one ordered before it, is outside
                items.push(ServiceItemPeriod({serviceItem: item, fromBlock: now_ + 1, untilBlock: 0}));
                _heldItem[departmentId][item] = items.length;
                if (bytes(_itemNames[item]).length == 0) _itemNames[item] = codes[i];
                emit ServiceItemGranted(departmentId, item, codes[i]);
            }
        } else if (action == Action.RevokeServiceItem) {
            string[] memory codes = _itemList(p.name);
            for (uint256 i = 0; i < codes.length; ++i) {
                bytes32 item = _serviceItemOf(codes[i]);
                // until the end of this block, as a type
                _itemHistory[departmentId][_heldItem[departmentId][item] - 1].untilBlock = now_ + 1;
                delete _heldItem[departmentId][item];
                emit ServiceItemRevoked(departmentId, item, codes[i]);
            }
        } else if (action == Action.Suspend) {
            d.active = false;
            _statusHistory[departmentId].push(StatusPeriod({active: false, roles: d.roles, fromBlock: now_}));
            emit DepartmentSuspended(departmentId);
        } else if (action == Action.Reinstate) {
            d.active = true;
            _statusHistory[departmentId].push(StatusPeriod({active: true, roles: d.roles, fromBlock: now_}));
            emit DepartmentReinstated(departmentId);
        } else {
            d.roles = roles;
            _statusHistory[departmentId].push(StatusPeriod({active: d.active, roles: roles, fromBlock: now_}));
            emit DepartmentRolesChanged(departmentId, roles);
        }
        emit ProposalExecuted(proposalId);
    }
}
