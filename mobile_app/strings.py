"""Every string the field app shows, in one place, so that it can be translated.

``t(key, **values)`` looks a key up in the active language (falling back to English) and
fills its ``{placeholders}``. A translation is another dict with the same keys; add it to
``LANGUAGES`` and pick it with ``set_language`` (or ``MRV_FIELD_LANG``).
"""

from __future__ import annotations

import os

EN: dict[str, str] = {
    # app and navigation
    "app.title": "JCM field entries",
    "nav.back": "Back",
    "nav.outbox": "Outbox ({count})",
    "nav.new_entry": "New entry",
    "nav.sign_out": "Sign out",
    "nav.projects": "Projects",
    # sign in
    "signin.title": "Sign in",
    "signin.server": "Server address",
    "signin.server_hint": "https://mrv.example.org",
    "signin.token": "Access token",
    "signin.token_hint": "mrv_...",
    "signin.submit": "Sign in",
    "signin.checking": "Checking with the server...",
    "signin.offline": "Server not reachable: working offline with what was saved before.",
    "signin.failed": "Sign in failed: {reason}",
    "signin.need_both": "Enter the server address and your token.",
    "signin.no_cache": "Server not reachable and nothing saved on this tablet yet.",
    "signin.with_code": "With the sign-in code your operator gave you (a QR code):",
    "signin.scan": "Scan the code with the camera",
    "signin.no_camera": "No camera on this device: use a picture or paste the code",
    "signin.from_image": "Read the code from a picture",
    "signin.paste": "Or paste the code's text",
    "signin.use_code": "Sign in with this code",
    "signin.or_type": "Or type the server address and token:",
    "signin.code_bad": "Not signed in: {reason}",
    "signin.code_read": "Code read: signing in to {server}...",
    "signin.no_qr": "Not signed in: no QR code found in that picture.",
    "signin.reading": "Reading the picture...",
    "signin.image_bad": "Not signed in: {reason}.",
    "signin.qr_unavailable": "This device cannot read QR codes: paste the code instead.",
    "signin.camera_failed": (
        "The camera could not be opened ({reason}): use a picture or paste the code."
    ),
    "qr.use": "Use this picture",
    "qr.cancel": "Cancel",
    "scan.looking": "Hold the QR code in front of the camera.",
    # projects and sites
    "project.title": "Choose project and site",
    "project.none": "This token grants no project.",
    "project.signed_in": "Signed in as {who} at {server}",
    "project.site": "Site: {site}",
    "project.offline_copy": "Offline copy from {when}",
    # entry types
    "type.title": "What are you recording?",
    "type.meter_reading": "Meter reading",
    "type.fuel_invoice": "Fuel invoice",
    "type.calibration_certificate": "Calibration certificate",
    "type.weighbridge_ticket": "Weighbridge ticket",
    "type.site_visit_checklist": "Site visit checklist",
    # form fields
    "field.device": "Device",
    "field.quantity": "Quantity",
    "field.time": "Time (YYYY-MM-DD HH:MM, local)",
    "field.value": "Value",
    "field.unit": "Unit",
    "field.invoice_number": "Invoice number",
    "field.supplier": "Supplier (optional)",
    "field.period_start": "Period start (YYYY-MM-DD)",
    "field.period_end": "Period end (YYYY-MM-DD)",
    "field.parameter": "Parameter (optional)",
    "field.monitoring_point": "Monitoring point (optional)",
    "field.calibrated_on": "Calibrated on (YYYY-MM-DD)",
    "field.certificate": "Certificate number",
    "field.result": "Result",
    "field.error_pct": "Error found (%)",
    "field.tolerance_pct": "Tolerance (%, optional)",
    "field.ticket_number": "Ticket number",
    "field.net_mass": "Net mass",
    "field.material": "Material",
    "field.visited_at": "Visited at (YYYY-MM-DD HH:MM, local)",
    "field.items": "Tick each item that is in order",
    "field.notes": "Notes (optional)",
    "field.gps": "GPS position",
    "field.lat": "Latitude",
    "field.lon": "Longitude",
    "field.accuracy_m": "Accuracy (m)",
    "field.photos": "Photos: {count}",
    "field.reason": "Reason for the change",
    "choice.none": "(none)",
    "choice.pick": "Choose...",
    "result.within_tolerance": "Within tolerance",
    "result.out_of_tolerance": "Out of tolerance",
    # checklist items offered on a site visit
    "check.seals_intact": "Meter seals intact",
    "check.display_readable": "Meter display readable",
    "check.cabling_undamaged": "Cabling undamaged",
    "check.sensors_clean": "Sensors and panels clean",
    "check.logger_online": "Data logger online",
    "check.no_bypass": "No bypass around the meter",
    # form actions
    "form.save_draft": "Save draft",
    "form.submit": "Submit",
    "form.saved": "Saved on this tablet.",
    "form.queued": "Queued: it will be sent when the server is reachable.",
    "form.fix": "Please fix the fields marked in red.",
    "form.gps_get": "Get GPS",
    "form.gps_unavailable": "No GPS on this device: enter the position by hand.",
    "form.gps_waiting": "Waiting for a GPS fix...",
    "form.photo_add": "Add photo",
    "form.photo_added": "Photo added ({size} kB).",
    "form.photo_refused": "Not added: {reason}",
    "form.edit_title": "Edit a sent entry",
    "form.edit_submit": "Send the change",
    # validation messages
    "error.required": "Required.",
    "error.number": "Enter a number.",
    "error.date": "Enter a date as YYYY-MM-DD.",
    "error.datetime": "Enter a date and time as YYYY-MM-DD HH:MM.",
    "error.future": "This is in the future.",
    "error.range": "Outside the plausible range {low} to {high} {unit}.",
    "error.register_max": "Above this meter's largest value ({high} {unit}): check the unit.",
    "error.before_start": "Before the period start.",
    "error.too_long": "At most {n} characters.",
    "error.choose": "Choose one.",
    "error.lat": "Latitude is -90 to 90.",
    "error.lon": "Longitude is -180 to 180.",
    "error.accuracy": "Accuracy is 0 to 100000 m.",
    "error.gps_pair": "Enter both latitude and longitude, or neither.",
    "error.tolerance": "The result does not match the error and tolerance.",
    "error.reason": "Say why you change it.",
    "error.installed": "The device was installed on {day}.",
    "error.removed": "The device was removed on {day}.",
    # outbox
    "outbox.title": "Outbox",
    "outbox.empty": "Nothing here yet.",
    "outbox.sync_now": "Sync now",
    "outbox.online": "Server reachable. {sent} sent this session.",
    "outbox.offline": "Offline: entries wait and are sent later.",
    "outbox.paused": "Sending paused: {reason}. Sign in again.",
    "outbox.unknown": "Not tried yet.",
    "outbox.row": "{type} | {summary}",
    "outbox.made": "Made {when}",
    "outbox.made_unknown": "time not known",
    "outbox.edit": "Edit",
    "outbox.open": "Open",
    "outbox.discard": "Discard draft",
    "state.draft": "Draft",
    "state.queued": "Queued",
    "state.sending": "Sending",
    "state.sent": "Sent",
    "state.rejected": "Rejected: {reason}",
    "state.conflict": "Conflict: {reason}",
}

LANGUAGES: dict[str, dict[str, str]] = {"en": EN}
_active: dict[str, str] = LANGUAGES.get(os.environ.get("MRV_FIELD_LANG", "en"), EN)


def set_language(code: str) -> None:
    global _active
    _active = LANGUAGES[code]


def t(key: str, **values: object) -> str:
    text = _active.get(key) or EN[key]
    return text.format(**values) if values else text
