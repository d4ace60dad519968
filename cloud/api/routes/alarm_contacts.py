"""``/api/v1/alarm-contacts``: who is told of alarms (list, read, create, change, delete).

Layer: HTTP router; storage calls and an audit entry per change, no SQL. Readers
of a tenant see its contacts; admins and analysts change them. Another tenant's
contact answers 404. A webhook's signing secret is made by the platform and shown
once, in the answer to its creation or to ``rotate-secret``; never again, and
never in the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from cloud.alarms.contacts import ContactChanges, ContactIn
from cloud.api.alarm_models import (
    ContactCreated,
    ContactOut,
    DeliveryOut,
    DeliveryStatus,
    Redelivered,
    SecretOut,
)
from cloud.api.auth import ReaderDep, require
from cloud.api.deps import StorageDep
from cloud.api.params import ID_PATTERN, MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.storage import audit
from cloud.storage.alarm_contact_admin import (
    create_contact,
    delete_contact,
    get_contact,
    list_contacts,
    rotate_contact_secret,
    update_contact,
)
from cloud.storage.alarm_deliveries import list_deliveries_in_scope, redeliver_dead
from cloud.storage.keys import ApiKey

router = APIRouter(
    prefix="/api/v1/alarm-contacts",
    tags=["alarms"],
    responses=error_responses(401, 403, 422, 429, 503),
)

EditorDep = Annotated[ApiKey, require("admin", "analyst")]
ContactId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="contact id")]


@router.get("")
async def get_contacts(
    key: ReaderDep,
    storage: StorageDep,
    tenant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[ContactOut]:
    """The contacts in the key's scope, by tenant and id (no secrets)."""
    return [ContactOut.of(c) for c in await list_contacts(storage, key.scope, tenant=tenant)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def post_contact(body: ContactIn, key: EditorDep, storage: StorageDep) -> ContactCreated:
    """Add a contact; a webhook's signing secret is in this answer only."""
    contact, secret = await create_contact(storage, key.scope, key.tenant, body)
    await audit.record(
        storage, key.actor, "alarm_contact.create", f"contact:{contact.id}",
        body.model_dump(mode="json"), tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    out = ContactOut.of(contact).model_dump()
    return ContactCreated(**out, secret=secret.hex() if secret else None)


@router.get("/{contact_id}", responses=error_responses(404))
async def get_one(contact_id: ContactId, key: ReaderDep, storage: StorageDep) -> ContactOut:
    """One contact; 404 when it does not exist or is another tenant's."""
    return ContactOut.of(await get_contact(storage, key.scope, contact_id))


@router.patch("/{contact_id}", responses=error_responses(404))
async def patch_one(
    contact_id: ContactId, body: ContactChanges, key: EditorDep, storage: StorageDep
) -> ContactOut:
    """Change the fields given (null clears quiet hours, escalation or the rule list)."""
    contact = await update_contact(storage, key.scope, contact_id, body)
    await audit.record(
        storage, key.actor, "alarm_contact.update", f"contact:{contact_id}",
        body.model_dump(mode="json", exclude_unset=True), tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return ContactOut.of(contact)


@router.post("/{contact_id}/rotate-secret", responses=error_responses(404))
async def rotate(contact_id: ContactId, key: EditorDep, storage: StorageDep) -> SecretOut:
    """A new signing secret for a webhook contact, shown in this answer only."""
    secret = await rotate_contact_secret(storage, key.scope, contact_id)
    await audit.record(
        storage, key.actor, "alarm_contact.rotate_secret", f"contact:{contact_id}", {},
        tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return SecretOut(secret=secret.hex())


@router.delete(
    "/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
async def delete_one(contact_id: ContactId, key: EditorDep, storage: StorageDep) -> Response:
    """Delete a contact and its delivery records (422 while another escalates to it)."""
    await delete_contact(storage, key.scope, contact_id)
    await audit.record(
        storage, key.actor, "alarm_contact.delete", f"contact:{contact_id}", {},
        tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/deliveries", responses=error_responses(404))
async def get_deliveries(
    *,
    contact_id: ContactId,
    key: ReaderDep,
    storage: StorageDep,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="only these (dead: gave up)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """What was sent to a contact, newest first: each event's status, attempts, last error."""
    await get_contact(storage, key.scope, contact_id)  # 404 outside the scope
    found = await list_deliveries_in_scope(storage, key.scope, contact_id, delivery_status, limit)
    return [DeliveryOut.of(d) for d in found]


@router.post("/{contact_id}/redeliver", responses=error_responses(404))
async def post_redeliver(contact_id: ContactId, key: EditorDep, storage: StorageDep) -> Redelivered:
    """Send the contact's dead deliveries of the last day again (the active evaluator takes
    them up within 30 s); how many."""
    await get_contact(storage, key.scope, contact_id)  # 404 outside the scope
    count = await redeliver_dead(storage, key.scope, contact_id)
    await audit.record(
        storage, key.actor, "alarm_contact.redeliver", f"contact:{contact_id}",
        {"deliveries": count}, tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return Redelivered(queued=count)
