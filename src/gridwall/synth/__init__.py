"""gridwall.synth — a synthetic NW operator (一般送配電事業者) for tests, demos and benchmarks.

``generate(out_dir, supply_points, days, seed, area="06", incidents=False, ...)``
writes the operator dataset layout (shared spec ``dataset.md``) plus
``usage.csv`` and returns a :class:`World`: the compact summary (organisations,
persons, accounts, devices, agreements, disasters, per-point numpy arrays) that
the demo and the incident injector work from.

The incidents hook
------------------
With ``incidents=True`` (CLI ``--incidents``) the generator imports
``gridwall.synth.incidents`` and calls, after the supply points are written and
before the small reference tables and the events::

    inject(world: World, events: EventSink, rng: random.Random,
           start: datetime.date, days: int) -> list[Incident]

The injector may append to ``world.persons`` / ``accounts`` / ``devices`` /
``agreements`` / ``disasters`` (those tables are written after it returns) and
emits misuse events with ``events.emit(...)``, which returns each event's
``event_id`` for the :class:`Incident` evidence. Its events are merged into the
ordinary ones in time order; the returned incidents become ``incidents.jsonl``.
Supply points, contracts and switching are already on disk: to stage
"view then switch" it uses points that switch inside the window
(``world.changes_in_window(CHANGE_SWITCH)``, with ``points.applied_day``).
"""

from gridwall.interfaces.clock import JST
from gridwall.synth._generate import generate
from gridwall.synth._world import (
    CHANGE_LRS,
    CHANGE_MOVE_IN,
    CHANGE_MOVE_OUT,
    CHANGE_NONE,
    CHANGE_SWITCH,
    LRS,
    NEVER,
    NO_RETAILER,
    Account,
    Agreement,
    Contractor,
    Device,
    Disaster,
    EventSink,
    Incident,
    Person,
    PointArrays,
    PointInfo,
    Retailer,
    World,
    format_ts,
)

__all__ = [
    "CHANGE_LRS",
    "CHANGE_MOVE_IN",
    "CHANGE_MOVE_OUT",
    "CHANGE_NONE",
    "CHANGE_SWITCH",
    "JST",
    "LRS",
    "NEVER",
    "NO_RETAILER",
    "Account",
    "Agreement",
    "Contractor",
    "Device",
    "Disaster",
    "EventSink",
    "Incident",
    "Person",
    "PointArrays",
    "PointInfo",
    "Retailer",
    "World",
    "format_ts",
    "generate",
]
