"""Request builders and hypothesis strategies shared by the policy tests."""

from __future__ import annotations

from hypothesis import strategies as st

from gridwall.interfaces.facts import (
    FIELDS,
    AccessRequest,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    ConsentState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    DisasterState,
    GrantFacts,
    OrgKind,
    PrincipalFacts,
    Purpose,
    Recipient,
    Relation,
    ResourceFacts,
    RetailerKind,
    Role,
)


def make(
    org: OrgKind = OrgKind.NW,
    role: Role = Role.TAKUSO_OPERATOR,
    purpose: Purpose = Purpose.TAKUSO,
    device: DeviceKind = DeviceKind.NW_TERMINAL,
    action: Action = Action.VIEW,
    relation: Relation = Relation.NOT_APPLICABLE,
    *,
    retailer_kind: RetailerKind | None = None,
    account_kind: AccountKind = AccountKind.PERSONAL,
    state: AccountState = AccountState.ACTIVE,
    trained: bool = True,
    owner: DeviceOwner = DeviceOwner.SAME_ORG,
    device_valid: bool = True,
    is_lrs: bool = False,
    has_fit: bool = False,
    grants: GrantFacts | None = None,
) -> AccessRequest:
    if retailer_kind is None:
        retailer_kind = RetailerKind.INDEPENDENT if org is OrgKind.RETAIL else RetailerKind.NONE
    return AccessRequest(
        principal=PrincipalFacts(org, retailer_kind, role, account_kind, state, trained),
        device=DeviceFacts(device, owner, device_valid),
        action=action,
        purpose=purpose,
        resource=ResourceFacts(relation, is_lrs, has_fit),
        grants=grants or GrantFacts(),
    )


requests = st.builds(
    AccessRequest,
    principal=st.builds(
        PrincipalFacts,
        st.sampled_from(OrgKind),
        st.sampled_from(RetailerKind),
        st.sampled_from(Role),
        st.sampled_from(AccountKind),
        st.sampled_from(AccountState),
        st.booleans(),
    ),
    device=st.builds(
        DeviceFacts, st.sampled_from(DeviceKind), st.sampled_from(DeviceOwner), st.booleans()
    ),
    action=st.sampled_from(Action),
    purpose=st.sampled_from(Purpose),
    resource=st.builds(ResourceFacts, st.sampled_from(Relation), st.booleans(), st.booleans()),
    grants=st.builds(
        GrantFacts,
        st.sampled_from(DisasterState),
        st.sampled_from(AgreementState),
        st.frozensets(st.sampled_from(FIELDS)),
        st.sampled_from(ConsentState),
        st.sampled_from(Recipient),
    ),
)
