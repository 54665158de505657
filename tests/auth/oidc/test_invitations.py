"""Invitations: the only way a FranceConnect-style identity (or a new local account) is bound to a usager or an
aidant the first time; one-time, expiring, revocable; traits only as a safety check."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urljoin

import requests
from sqlalchemy import func, select, update

from fhirserver.auth.logins import invitations
from fhirserver.auth.logins.schema import auth_identity, auth_invitation
from fhirserver.auth.logins.store import IdentityStore
from fhirserver.auth.models import utcnow
from fhirserver.auth.schema import auth_user
from tests.auth.conftest import Env, parse_page, submit
from tests.auth.oidc.conftest import audit_events, provider_links, through_provider


def invite(env: Env, fhir_user: str = "Patient/p1", days: int = 7) -> str:
    _, token = invitations.create(env.ctx, IdentityStore(env.ctx.repo.engine), fhir_user, days, "accueil")
    return token


def accept_with_fc(env: Env, token: str, login: str = "jeanne") -> requests.Response:
    session = requests.Session()
    page = session.get(env.url(f"invitation/{token}"))
    assert page.status_code == 200, page.text
    return through_provider(session, env, provider_links(page.text)["fc"], login)


def fc_login(env: Env, login: str = "jeanne") -> requests.Response:
    session = requests.Session()
    page = session.get(env.url("login"))
    return through_provider(session, env, provider_links(page.text)["fc"], login)


def count(env: Env, table: object) -> int:
    with env.ctx.repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)  # type: ignore[arg-type]


def test_invitation_binds_the_franceconnect_identity(oidc: Env) -> None:
    """Accepting an invitation with the FranceConnect-style provider binds the identity to Patient/p1 and logs in."""
    resp = accept_with_fc(oidc, invite(oidc))
    assert resp.status_code == 303 and resp.headers["Location"] == "/auth/apps", resp.text
    with oidc.ctx.repo.engine.connect() as conn:
        assert conn.execute(select(auth_user.c.fhir_user)).scalars().all() == ["Patient/p1"]
        assert conn.execute(select(auth_invitation.c.used_at)).scalar() is not None


def test_bound_identity_logs_in_without_invitation(oidc: Env) -> None:
    """Once bound, the same identity logs in from the login page without any invitation."""
    accept_with_fc(oidc, invite(oidc))
    resp = fc_login(oidc)
    assert resp.status_code == 303 and "dui_auth_session" in resp.cookies


def test_franceconnect_login_without_invitation_is_refused(oidc: Env) -> None:
    """An unbound FranceConnect identity without invitation is told to ask the establishment for one."""
    resp = fc_login(oidc)
    assert resp.status_code == 403 and "Demandez une invitation à votre établissement" in resp.text
    assert count(oidc, auth_user) == 0


def test_invitation_cannot_be_used_twice(oidc: Env) -> None:
    """A used invitation is refused the second time (page and provider start), and binds nobody else."""
    token = invite(oidc)
    accept_with_fc(oidc, token)
    assert requests.get(oidc.url(f"invitation/{token}"), timeout=10).status_code == 410
    start = requests.get(oidc.url("oidc/fc/start") + f"?invitation={token}", allow_redirects=False, timeout=10)
    assert start.status_code == 410
    assert count(oidc, auth_identity) == 1


def test_concurrent_second_use_fails_at_binding(oidc: Env) -> None:
    """Two logins started with the same invitation: the second callback finds it used and binds nothing."""
    token = invite(oidc)
    first, second = requests.Session(), requests.Session()
    links = [provider_links(s.get(oidc.url(f"invitation/{token}")).text)["fc"] for s in (first, second)]
    second_started = second.get(oidc.base + links[1], allow_redirects=False)
    assert second_started.status_code == 302
    assert through_provider(first, oidc, links[0], "jeanne").status_code == 303
    resp = through_provider(second, oidc, second_started.headers["Location"], "jeanne-bis")
    assert resp.status_code == 410 and count(oidc, auth_identity) == 1


def test_expired_invitation_is_refused(oidc: Env) -> None:
    """An invitation past its expiry date is refused."""
    token = invite(oidc)
    with oidc.ctx.repo.engine.begin() as conn:
        conn.execute(update(auth_invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
    resp = requests.get(oidc.url(f"invitation/{token}"), timeout=10)
    assert resp.status_code == 410 and parse_page(resp.text).alerts


def test_revoked_invitation_is_refused(oidc: Env) -> None:
    """A revoked invitation is refused."""
    store = IdentityStore(oidc.ctx.repo.engine)
    invitation_id, token = store.create_invitation("Patient/p1", 7, None)
    assert store.revoke_invitation(invitation_id)
    assert requests.get(oidc.url(f"invitation/{token}"), timeout=10).status_code == 410


def test_contradicting_traits_refuse_the_binding(oidc: Env) -> None:
    """A provider identity with another family name and birth date is not bound; the invitation stays usable."""
    token = invite(oidc)
    resp = accept_with_fc(oidc, token, "other-person")
    assert resp.status_code == 403 and "ne correspond pas à la personne invitée" in resp.text
    assert count(oidc, auth_identity) == 0
    assert IdentityStore(oidc.ctx.repo.engine).usable_invitation(token) is not None


def test_patient_record_is_not_changed_by_the_binding(oidc: Env) -> None:
    """Binding a FranceConnect identity leaves the Patient resource untouched (no identity status upgrade)."""
    before = oidc.ctx.repo.run(lambda s: s.read("Patient", "p1"), write=False)
    accept_with_fc(oidc, invite(oidc))
    after = oidc.ctx.repo.run(lambda s: s.read("Patient", "p1"), write=False)
    assert after.version_id == before.version_id and after.content == before.content


def test_aidant_invitation_links_the_usager(oidc: Env) -> None:
    """An invitation for RelatedPerson/rp1 gives an account that acts for the RelatedPerson's patient p1."""
    accept_with_fc(oidc, invite(oidc, "RelatedPerson/rp1"))
    with oidc.ctx.repo.engine.connect() as conn:
        user_id = conn.execute(select(auth_user.c.id)).scalar()
    user = oidc.store.user(int(user_id or 0))
    assert user is not None and user.fhir_user == "RelatedPerson/rp1" and user.patients == ["p1"]


def test_invitation_creates_a_local_account(oidc: Env) -> None:
    """With local accounts on, the invitation page creates a password account for the invited usager."""
    session = requests.Session()
    token = invite(oidc)
    page = session.get(oidc.url(f"invitation/{token}"))
    form = [i for i, f in enumerate(parse_page(page.text).forms) if f["action"].endswith("/account")][0]
    resp = submit(session, page, form, fill={"username": "jeanne", "password": "un mot de passe long",
                                              "password2": "un mot de passe long"})
    assert resp.status_code == 303 and "dui_auth_session" in resp.cookies
    assert oidc.store.check_password("jeanne", "un mot de passe long", 5, 15) is not None
    assert session.get(urljoin(oidc.base, "/auth/invitation/" + token)).status_code == 410


def test_invitation_for_a_missing_record_is_refused(oidc: Env) -> None:
    """Creating an invitation for a Patient that does not exist, or for a Practitioner, fails."""
    store = IdentityStore(oidc.ctx.repo.engine)
    for target in ("Patient/nobody", "Practitioner/dr1"):
        try:
            invitations.create(oidc.ctx, store, target)
        except invitations.InvitationError:
            continue
        raise AssertionError(target)


def test_invitation_use_is_audited(oidc: Env) -> None:
    """Using an invitation leaves an invitation AuditEvent for the usager and a login AuditEvent."""
    accept_with_fc(oidc, invite(oidc))
    kinds = {(e["subtype"][0]["code"], e["outcome"]) for e in audit_events(oidc)}
    assert ("invitation", "0") in kinds and ("login", "0") in kinds
