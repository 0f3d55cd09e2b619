"""iCalendar (RFC 5545) invitations for scheduled consultations."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from signalling.db.models import Consultation, User

DEFAULT_LENGTH = timedelta(minutes=30)


def invitation(c: Consultation, participants: list[User], join_url: str, now: datetime) -> bytes:
    """A calendar with one event; its UID is stable, so a re-sent invitation updates it."""
    assert c.scheduled_for is not None
    cal = Calendar()
    cal.add("prodid", "-//Telehealth//consultation//VI")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    event = Event()
    event.add("uid", f"{c.id}@telehealth")
    event.add("dtstamp", now)
    event.add("dtstart", c.scheduled_for)
    event.add("dtend", c.scheduled_for + DEFAULT_LENGTH)
    # No patient details: calendars travel through mail servers.
    event.add("summary", f"Hội chẩn từ xa / Teleconsultation ({c.specialty})")
    event.add("description", f"{c.kind.value.replace('_', ' ')} — {join_url}")
    event.add("url", join_url)
    event.add("status", "CANCELLED" if c.status.value == "cancelled" else "CONFIRMED")
    for user in participants:
        attendee = vCalAddress(f"urn:telehealth:user:{user.username}")
        attendee.params["cn"] = vText(user.full_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=False)
    cal.add_component(event)
    return bytes(cal.to_ical())
