// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDepartmentRegistry, Roles} from "./IDepartmentRegistry.sol";

/// @title DepartmentRegistry
/// @notice M-of-N council governing departments, their role bits and their signing keys, with full key and status
/// history. A key belongs to one department forever: after rotation it can no longer act, but what it anchored
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

    address[] private _council;
    mapping(address account => bool) private _isCouncilMember;
    uint8 private immutable _threshold;

    mapping(bytes32 departmentId => DepartmentRecord) private _departments;
    mapping(address signer => bytes32 departmentId) private _departmentOf;
    bytes32[] private _departmentIds;
    mapping(bytes32 departmentId => KeyPeriod[]) private _keyHistory;
    mapping(bytes32 departmentId => StatusPeriod[]) private _statusHistory;

    uint256 private _proposalCount;
    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(address member => bool)) private _approved;

    /// @notice Sets up the council; it cannot change afterwards.
    /// @param members Council member addresses (nonzero, distinct, at least one).
    /// @param threshold_ Approvals needed to execute a proposal (1..members.length).
    constructor(address[] memory members, uint8 threshold_) {
        if (members.length == 0) revert RegistryInvalidCouncil();
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
        _validate(action, departmentId, signer, roles);

        proposalId = ++_proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.action = action;
        p.departmentId = departmentId;
        p.name = name;
        p.signer = signer;
        p.roles = roles;
        p.proposer = msg.sender;
        emit ProposalCreated(proposalId, msg.sender, action, departmentId);

        _approve(proposalId, p);
    }

    /// @inheritdoc IDepartmentRegistry
    function approve(uint256 proposalId) external onlyCouncil {
        if (proposalId == 0 || proposalId > _proposalCount) revert RegistryUnknownProposal(proposalId);
        Proposal storage p = _proposals[proposalId];
        if (p.executed) revert RegistryProposalAlreadyExecuted(proposalId);
        if (_approved[proposalId][msg.sender]) revert RegistryAlreadyApproved(proposalId, msg.sender);
        _approve(proposalId, p);
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
        if (proposalId == 0 || proposalId > _proposalCount) revert RegistryUnknownProposal(proposalId);
        return _proposals[proposalId];
    }

    /// @inheritdoc IDepartmentRegistry
    function hasApproved(uint256 proposalId, address member) external view returns (bool) {
        return _approved[proposalId][member];
    }

    /// @inheritdoc IDepartmentRegistry
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IDepartmentRegistry
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    // ----------------------------------------------------------------- internals

    function _checkCouncilMember(address account) private view {
        if (!_isCouncilMember[account]) revert RegistryNotCouncilMember(account);
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
    }

    /// @dev Reverts with the specific error when `action` could not be applied to the current state.
    function _validate(Action action, bytes32 departmentId, address signer, uint8 roles) private view {
        if (departmentId == bytes32(0)) revert RegistryInvalidDepartmentId();
        if (action == Action.Register) {
            if (_departments[departmentId].signer != address(0)) revert RegistryDepartmentExists(departmentId);
            _checkFreshSigner(signer);
            _checkRoles(roles);
            return;
        }
        DepartmentRecord storage d = _existing(departmentId);
        if (action == Action.RotateKey) {
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

    function _approve(uint256 proposalId, Proposal storage p) private {
        _approved[proposalId][msg.sender] = true;
        uint8 approvals = ++p.approvals;
        emit ProposalApproved(proposalId, msg.sender, approvals);
        if (approvals >= _threshold) _execute(proposalId, p);
    }

    function _execute(uint256 proposalId, Proposal storage p) private {
        Action action = p.action;
        bytes32 departmentId = p.departmentId;
        address signer = p.signer;
        uint8 roles = p.roles;
        // State may have moved since the proposal was made (e.g. a competing proposal ran first).
        _validate(action, departmentId, signer, roles);

        p.executed = true;

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
