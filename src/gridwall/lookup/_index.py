"""The search index over the operator's supply points: build, refresh, then search.

Build (:func:`build_index`; ``gridwall lookup index``, or the first ``gridwall load`` /
``gridwall lookup`` on a store without a current index): every record of the gateway's lookup
feed is normalised (:class:`RecordNormalizer`), grouped by 町丁目 into ``lookup_places`` and
stored in ``lookup_points`` with only ID, equipment and address parts. The whole build is one
transaction: readers see the old index until it commits.

Refresh (:func:`refresh_index`, after every ``gridwall load``): only the points the load
inserted or updated are re-read and re-normalised; a row whose content is unchanged is not
written, a closed or vanished point is deleted, a place left without points goes too. It runs
in the load's own transaction, so a failed refresh leaves the old index and the old data.
:func:`sync_index` chooses between the two; ``lookup_meta`` records the index's
:data:`INDEX_VERSION`, and an index without it (never built, or built by code whose layout or
normalisation differs) is rebuilt rather than refreshed or searched.

Search: (1) exact match on normalised components — place (都道府県, 市区町村, 町, 丁目) then
(番地, 号) on a B-tree index; (2) near misses — candidate places by trigram (SQLite FTS5
``trigram`` tokenizer, PostgreSQL ``pg_trgm``) on the folded place text, then points in those
places with the same 番地; (3) every candidate is re-ranked with rapidfuzz into a score in [0, 1].
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import Connection, Engine, bindparam, inspect, text

from gridwall.lookup._dictionary import TownDictionary, national, strip_aza
from gridwall.lookup._normalize import NormalizedAddress, RecordNormalizer, normalize
from gridwall.lookup._text import (
    KANJI_NUM_CHARS,
    fold,
    fold_key,
    int_to_kanji,
    kanji_to_int,
    name_key,
)

#: a candidate at or above this score is a confident answer (and may be name-checked)
ACCEPT_SCORE = 0.8
#: candidates below this are never shown (they would only reveal neighbours)
MIN_SCORE = 0.5
_ROOM_RE = re.compile(r"(\d+)(?!.*\d)")
_ROOM_SUFFIX_RE = re.compile(r"(号室|号|室)")
_KANJI_ROOM_RE = re.compile(rf"([{KANJI_NUM_CHARS}]+)(?=号室|号|室|階)")
_BATCH = 50_000
#: bump when the stored layout or the normalisation of records changes: every index built
#: by other code is then *stale* and rebuilt (never searched, never refreshed in place)
#: 3: a one-kana/letter 小字 before the 番地 is its block (字イ12 = イ-12); the 小字 column
INDEX_VERSION = 3
#: a load that changed more than this fraction of the indexed points rebuilds the index
#: instead (a full build's bulk path is then cheaper than row-by-row updates)
FULL_REBUILD_FRACTION = 0.2
#: ... but a change of at most this many points is always refreshed in place
_ALWAYS_REFRESH = 1_000
_PROGRESS_EVERY = 5_000
_RECORD_FIELDS = (
    "supply_point_id",
    "pref",
    "city",
    "town",
    "banchi",
    "building",
    "room",
    "voltage",
    "meter_id",
    "status",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked answer: the point's ID, equipment, score and, as ``address``, the caller's
    own typed address normalised (:meth:`NormalizedAddress.typed_form`) — never the stored
    address, whose building, room or 号 the caller may not have typed (issue 11, item 1)."""

    supply_point_id: str
    address: str
    score: float
    voltage: str
    meter_id: str


@dataclass(frozen=True, slots=True)
class BuildReport:
    points: int
    places: int
    unknown_towns: int  # towns the national dictionary lacks (learnt from the operator's data)
    skipped: int  # closed points (not indexed)
    seconds: float


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What an incremental refresh wrote: index rows inserted, updated and deleted, the
    points asked about whose row was already right, and places added or dropped."""

    inserted: int
    updated: int
    removed: int
    unchanged: int
    places_added: int
    places_removed: int
    seconds: float

    @property
    def touched(self) -> int:
        """Index rows written (points and places)."""
        return self.inserted + self.updated + self.removed + self.places_added + self.places_removed


@dataclass(frozen=True, slots=True)
class SyncReport:
    """:func:`sync_index`'s answer: what it did and why (``reason``)."""

    mode: str  # "refresh" | "build"
    reason: str  # why a build: the index was "missing", "stale" or the change "large"
    refresh: RefreshReport | None = None
    build: BuildReport | None = None


#: the index's state (:func:`index_state`)
CURRENT, MISSING, STALE, ABSENT = "current", "missing", "stale", "absent"


class IndexNotCurrent(Exception):
    """The index cannot be refreshed in place (``state``: missing, stale or absent)."""

    def __init__(self, state: str) -> None:
        self.state = state
        super().__init__(f"the lookup index is {state}")


def index_state(source: Engine | Connection) -> str:
    """``current`` (built by this code), ``missing`` (never built), ``stale`` (built by code
    with another :data:`INDEX_VERSION`, or by one that recorded none) or ``absent`` (the
    lookup's tables do not exist: the store is not migrated)."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return index_state(conn)
    if not inspect(source).has_table("lookup_meta"):
        return ABSENT
    rows: dict[str, str] = dict(source.execute(text("SELECT key, value FROM lookup_meta")).all())
    if not rows:
        return MISSING
    return CURRENT if rows.get("version") == str(INDEX_VERSION) else STALE


def _lock(conn: Connection) -> None:
    """Serialise writers of the index for the rest of the transaction (readers go on)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE lookup_meta IN SHARE ROW EXCLUSIVE MODE"))
    else:  # SQLite: the first write takes the database's write lock
        conn.execute(text("UPDATE lookup_meta SET value = value WHERE key = 'version'"))


def _write_meta(conn: Connection, meta: Mapping[str, str]) -> None:
    conn.execute(
        text("DELETE FROM lookup_meta WHERE key IN :keys").bindparams(
            bindparam("keys", expanding=True)
        ),
        {"keys": list(meta)},
    )
    conn.execute(
        text("INSERT INTO lookup_meta (key, value) VALUES (:k, :v)"),
        [{"k": k, "v": v} for k, v in meta.items()],
    )


def _as_mapping(rec: Any) -> Mapping[str, Any]:
    if isinstance(rec, Mapping):
        return rec
    return {k: getattr(rec, k, None) for k in _RECORD_FIELDS}


def place_text(town: str) -> str:
    """Folded town text used for trigram candidate generation (the town alone: city and 丁目
    are filtered and compared separately, so their common trigrams never flood the index)."""
    return name_key(town)


def build_index(
    target: Engine | Connection,
    records: Iterable[Any],
    *,
    progress: Callable[[int], None] | None = None,
    dictionary: TownDictionary | None = None,
) -> BuildReport:
    """Replace the index with ``records`` (objects or mappings with the feed's fields), in one
    transaction: the engine's own, or the caller's when given a connection (then nothing is
    committed here). ``progress(n)`` is called with the number of points read so far."""
    if isinstance(target, Connection):
        return _build(target, records, progress, dictionary)
    with target.begin() as conn:
        return _build(conn, records, progress, dictionary)


def _build(
    conn: Connection,
    records: Iterable[Any],
    progress: Callable[[int], None] | None,
    dictionary: TownDictionary | None,
) -> BuildReport:
    t0 = time.perf_counter()
    rn = RecordNormalizer(dictionary)
    places: dict[tuple[str, str, str, int], tuple[int, bool]] = {}
    dialect = conn.dialect.name
    n_points = skipped = n_read = 0
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    if dialect == "postgresql":
        cur.execute("TRUNCATE lookup_points, lookup_places, lookup_meta")
    else:
        cur.execute("DELETE FROM lookup_points")
        cur.execute("DELETE FROM lookup_places")
        cur.execute("DELETE FROM lookup_meta")
    cur.execute("DROP INDEX IF EXISTS ix_lookup_points_addr")
    cur.execute("DROP INDEX IF EXISTS ix_lookup_points_spid")
    if dialect == "sqlite":
        cur.execute("INSERT INTO lookup_places_fts(lookup_places_fts) VALUES('delete-all')")
    cols = (
        "id, supply_point_id, place_id, block, number, rest, room, voltage, meter_id, status, koaza"
    )
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        if not batch:
            return
        if dialect == "postgresql":
            with cur.copy(f"COPY lookup_points ({cols}) FROM STDIN") as cp:
                for row in batch:
                    cp.write_row(row)
        else:
            cur.executemany(
                f"INSERT INTO lookup_points ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch
            )
        batch.clear()

    for rec in records:
        n_read += 1
        if progress and n_read % _PROGRESS_EVERY == 0:
            progress(n_read)
        rec = _as_mapping(rec)
        row = _point_row(rn, rec)
        if row is None:
            skipped += (rec.get("status") or "active") == "closed"
            continue
        pkey, known, values = row
        pl = places.get(pkey)
        if pl is None:
            pl = (len(places) + 1, known)
            places[pkey] = pl
        n_points += 1
        batch.append((n_points, str(rec.get("supply_point_id")), pl[0], *values))
        if len(batch) >= _BATCH:
            flush()
    flush()
    if progress:
        progress(n_read)
    prow = [
        (pid, p, c, t, ch, known, place_text(t)) for (p, c, t, ch), (pid, known) in places.items()
    ]
    pcols = "id, pref, city, town, chome, known, key_text"
    if dialect == "postgresql":
        with cur.copy(f"COPY lookup_places ({pcols}) FROM STDIN") as cp:
            for prw in prow:
                cp.write_row(prw)
    else:
        cur.executemany(f"INSERT INTO lookup_places ({pcols}) VALUES (?,?,?,?,?,?,?)", prow)
        cur.execute("INSERT INTO lookup_places_fts(lookup_places_fts) VALUES('rebuild')")
    cur.execute("CREATE INDEX ix_lookup_points_addr ON lookup_points (place_id, block, number)")
    cur.execute("CREATE UNIQUE INDEX ix_lookup_points_spid ON lookup_points (supply_point_id)")
    now = datetime.now(UTC).isoformat()
    _write_meta(
        conn,
        {
            "version": str(INDEX_VERSION),
            "built_at": now,
            "refreshed_at": now,
            "state": uuid.uuid4().hex,
            "points": str(n_points),
            "places": str(len(places)),
        },
    )
    if dialect == "postgresql":  # fresh statistics for the planner (allowed in a transaction)
        conn.execute(text("ANALYZE lookup_points"))
        conn.execute(text("ANALYZE lookup_places"))
    unknown = sum(1 for _, known in places.values() if not known)
    return BuildReport(n_points, len(places), unknown, skipped, time.perf_counter() - t0)


_PlaceKey = tuple[str, str, str, int]
#: an index row's content after its ID: block, number, rest, room, voltage, meter, status,
#: 小字 (its matching key; "" when the record names none)
_Values = tuple[str, str, str, str, str, str, str, str]


def _point_row(
    rn: RecordNormalizer, rec: Mapping[str, Any]
) -> tuple[_PlaceKey, bool, _Values] | None:
    """The place and the index row of one feed record; None when it is not indexed (closed,
    or without an ID). Build and refresh share it, so both store exactly the same row."""
    status = rec.get("status") or "active"
    if status == "closed" or not rec.get("supply_point_id"):
        return None
    a = rn.record(
        rec.get("pref") or "",
        rec.get("city") or "",
        rec.get("town"),
        rec.get("banchi"),
        rec.get("building"),
        rec.get("room"),
    )
    values = (
        a.block or "",
        a.number or "",
        a.rest,
        rn._c(rec.get("room")),
        rec.get("voltage") or "",
        rec.get("meter_id") or "",
        status,
        fold_key(a.koaza) if a.koaza else "",
    )
    return (a.pref, a.municipality, a.town, a.chome or 0), a.known, values


def refresh_index(
    conn: Connection,
    supply_point_ids: Iterable[str],
    fetch: Callable[[list[str]], Iterable[Any]],
    *,
    dictionary: TownDictionary | None = None,
) -> RefreshReport:
    """Bring the index rows of ``supply_point_ids`` up to date, in the caller's transaction.

    ``fetch(ids)`` returns the current feed records of those of ``ids`` that exist (the
    gateway's :func:`gridwall.gateway.lookup_records`). Work is proportional to the number of
    IDs: each is re-normalised and compared with its row; only differing rows are written (a
    point whose record did not change, or changed only outside the lookup's fields, is left
    alone), closed or vanished points are deleted, new ones inserted, and places left empty
    dropped. Raises :class:`IndexNotCurrent` (writing nothing) unless the index is current.
    """
    t0 = time.perf_counter()
    ids = sorted(set(supply_point_ids))
    if not ids:
        return RefreshReport(0, 0, 0, 0, 0, 0, time.perf_counter() - t0)
    _lock(conn)
    state = index_state(conn)
    if state != CURRENT:
        raise IndexNotCurrent(state)
    rn = RecordNormalizer(dictionary)
    dialect = conn.dialect.name
    place_ids: dict[_PlaceKey, int] = {}
    next_point = next_place = 0
    ins = upd = rem = same = pl_added = 0
    emptied: set[int] = set()

    def place_of(key: _PlaceKey, known: bool) -> int:
        nonlocal next_place, pl_added
        pid = place_ids.get(key)
        if pid is not None:
            return pid
        found = conn.execute(
            text(
                "SELECT id FROM lookup_places "
                "WHERE pref = :p AND city = :c AND town = :t AND chome = :ch"
            ),
            {"p": key[0], "c": key[1], "t": key[2], "ch": key[3]},
        ).scalar()
        if found is None:
            if not next_place:
                next_place = _max_id(conn, "lookup_places")
            next_place += 1
            found = next_place
            kt = place_text(key[2])
            conn.execute(
                text(
                    "INSERT INTO lookup_places (id, pref, city, town, chome, known, key_text) "
                    "VALUES (:id, :p, :c, :t, :ch, :k, :kt)"
                ),
                {"id": found, "p": key[0], "c": key[1], "t": key[2], "ch": key[3], "k": known,
                 "kt": kt},
            )  # fmt: skip
            if dialect == "sqlite":
                conn.execute(
                    text("INSERT INTO lookup_places_fts (rowid, key_text) VALUES (:id, :kt)"),
                    {"id": found, "kt": kt},
                )
            pl_added += 1
        place_ids[key] = int(found)
        return int(found)

    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        records = {str(r["supply_point_id"]): r for r in map(_as_mapping, fetch(chunk))}
        old_rows = {
            str(r[0]): (int(r[1]), int(r[2]), tuple(r[3:]))
            for r in conn.execute(
                text(
                    "SELECT supply_point_id, id, place_id, block, number, rest, room, voltage, "
                    "meter_id, status, koaza FROM lookup_points WHERE supply_point_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": chunk},
            )
        }
        for spid in chunk:
            rec = records.get(spid)
            row = _point_row(rn, rec) if rec is not None else None
            old = old_rows.get(spid)
            if row is None:
                if old is not None:
                    conn.execute(text("DELETE FROM lookup_points WHERE id = :id"), {"id": old[0]})
                    emptied.add(old[1])
                    rem += 1
                continue
            key, known, values = row
            pid = place_of(key, known)
            if old is not None and old[1] == pid and old[2] == values:
                same += 1
                continue
            params = dict(zip(_VALUE_COLS, values, strict=True), place_id=pid)
            if old is None:
                if not next_point:
                    next_point = _max_id(conn, "lookup_points")
                next_point += 1
                conn.execute(
                    text(
                        "INSERT INTO lookup_points (id, supply_point_id, place_id, "
                        + ", ".join(_VALUE_COLS)
                        + ") VALUES (:id, :spid, :place_id, "
                        + ", ".join(":" + c for c in _VALUE_COLS)
                        + ")"
                    ),
                    {**params, "id": next_point, "spid": spid},
                )
                ins += 1
            else:
                conn.execute(
                    text(
                        "UPDATE lookup_points SET place_id = :place_id, "
                        + ", ".join(f"{c} = :{c}" for c in _VALUE_COLS)
                        + " WHERE id = :id"
                    ),
                    {**params, "id": old[0]},
                )
                if old[1] != pid:
                    emptied.add(old[1])
                upd += 1
    pl_removed = _drop_empty_places(conn, emptied)
    if ins or upd or rem:
        # the counts follow from what was written (a count(*) would scan every row)
        old_meta: dict[str, str] = dict(
            conn.execute(
                text("SELECT key, value FROM lookup_meta WHERE key IN ('points', 'places')")
            ).all()
        )
        _write_meta(
            conn,
            {
                "refreshed_at": datetime.now(UTC).isoformat(),
                "state": uuid.uuid4().hex,
                "points": str(int(old_meta.get("points", 0)) + ins - rem),
                "places": str(int(old_meta.get("places", 0)) + pl_added - pl_removed),
            },
        )
    return RefreshReport(ins, upd, rem, same, pl_added, pl_removed, time.perf_counter() - t0)


_VALUE_COLS = ("block", "number", "rest", "room", "voltage", "meter_id", "status", "koaza")


def _max_id(conn: Connection, table: str) -> int:
    # the table names are this module's constants, never input
    sql = f"SELECT coalesce(max(id), 0) FROM {table}"
    return int(conn.execute(text(sql)).scalar_one())


def _drop_empty_places(conn: Connection, candidates: set[int]) -> int:
    """Delete the places among ``candidates`` that no point uses any more."""
    n = 0
    for pid in sorted(candidates):
        if conn.execute(
            text("SELECT 1 FROM lookup_points WHERE place_id = :p LIMIT 1"), {"p": pid}
        ).first():
            continue
        kt = conn.execute(
            text("SELECT key_text FROM lookup_places WHERE id = :p"), {"p": pid}
        ).scalar()
        if kt is None:
            continue
        if conn.dialect.name == "sqlite":  # external-content FTS5: delete with the old text
            conn.execute(
                text(
                    "INSERT INTO lookup_places_fts (lookup_places_fts, rowid, key_text) "
                    "VALUES ('delete', :p, :kt)"
                ),
                {"p": pid, "kt": kt},
            )
        conn.execute(text("DELETE FROM lookup_places WHERE id = :p"), {"p": pid})
        n += 1
    return n


def sync_index(
    conn: Connection,
    supply_point_ids: Iterable[str],
    *,
    fetch: Callable[[list[str]], Iterable[Any]],
    feed: Callable[[], Iterable[Any]],
    progress: Callable[[int], None] | None = None,
    dictionary: TownDictionary | None = None,
) -> SyncReport:
    """Keep the index current after ``supply_point_ids`` changed, in the caller's transaction:
    refresh those points in place (:func:`refresh_index`) when the index is current, else
    build it from ``feed()`` — also when the change is large (more than
    :data:`FULL_REBUILD_FRACTION` of the indexed points, and more than a thousand)."""
    ids = sorted(set(supply_point_ids))
    state = index_state(conn)
    if state == ABSENT:
        raise IndexNotCurrent(state)
    if state == CURRENT:
        size = int(
            conn.execute(text("SELECT value FROM lookup_meta WHERE key = 'points'")).scalar() or 0
        )
        if len(ids) <= max(_ALWAYS_REFRESH, FULL_REBUILD_FRACTION * size):
            try:
                return SyncReport(
                    "refresh", "", refresh=refresh_index(conn, ids, fetch, dictionary=dictionary)
                )
            except IndexNotCurrent as e:  # rebuilt under another version meanwhile
                state = e.state
        else:
            state = "large"
    build = build_index(conn, feed(), progress=progress, dictionary=dictionary)
    return SyncReport("build", state, build=build)


def ensure_index(
    engine: Engine,
    feed: Callable[[Connection], Iterable[Any]],
    *,
    progress: Callable[[int], None] | None = None,
    dictionary: TownDictionary | None = None,
) -> BuildReport | None:
    """Build the index from ``feed(conn)`` unless it is current (None then). Checked again
    under the writers' lock, so two processes finding it missing build it once."""
    state = index_state(engine)
    if state == CURRENT:
        return None
    if state == ABSENT:
        raise IndexNotCurrent(state)
    with engine.begin() as conn:
        _lock(conn)
        if index_state(conn) == CURRENT:
            return None
        return _build(conn, feed(conn), progress, dictionary)


@dataclass(frozen=True, slots=True)
class _Place:
    id: int
    pref: str
    city: str
    town: str
    chome: int
    key_text: str


class LookupIndex:
    """Read side of the index; one per process (holds the extended town dictionary)."""

    #: how often (seconds) a long-lived index checks whether a build or a load's refresh
    #: changed the index (new towns learnt, places added or dropped)
    RELOAD_CHECK_S = 30.0

    def __init__(self, engine: Engine, dictionary: TownDictionary | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._base = dictionary or national()
        self._lock = threading.Lock()
        self._city_cache: OrderedDict[tuple[str, str], tuple[list[_Place], list[str]]] = (
            OrderedDict()
        )
        self._load()

    def reload(self) -> None:
        """Read the index's learnt towns and state again now (after a build of it)."""
        self._load()

    def _load(self) -> None:
        """(Re)read what the index adds to the dictionary: the operator's own towns."""
        with self.engine.connect() as conn:
            self.has_trgm = self.dialect == "postgresql" and bool(
                conn.execute(
                    text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
                ).scalar()
            )
            rows = conn.execute(
                text("SELECT pref, city, town, chome FROM lookup_places WHERE known = :f"),
                {"f": False},
            ).all()
            pts = conn.execute(text("SELECT value FROM lookup_meta WHERE key = 'points'")).scalar()
            self.size = int(pts) if pts is not None else 0  # recorded by the build: no scan
            self.built_at = self._meta(conn, "built_at")
            self.state = self._meta(conn, "state")
        self.dictionary = (
            self._base.with_extra(
                (p, c, t + (int_to_kanji(ch) + "丁目" if ch else "")) for p, c, t, ch in rows
            )
            if rows
            else self._base
        )
        with self._lock:
            self._city_cache.clear()
        self._checked = time.monotonic()

    @staticmethod
    def _meta(conn: Any, key: str) -> str | None:
        v = conn.execute(text("SELECT value FROM lookup_meta WHERE key = :k"), {"k": key}).scalar()
        return str(v) if v is not None else None

    def _maybe_reload(self) -> None:
        """A rebuilt or refreshed index (new ``state`` token) is picked up within
        :attr:`RELOAD_CHECK_S` (points themselves are read from the tables on every search)."""
        if time.monotonic() - self._checked < self.RELOAD_CHECK_S:
            return
        self._checked = time.monotonic()
        with self.engine.connect() as conn:
            current = self._meta(conn, "state")
        if current != self.state:
            self._load()

    def normalize(self, address: str) -> NormalizedAddress:
        self._maybe_reload()
        return normalize(address, self.dictionary)

    # -- candidate generation -------------------------------------------------------------
    def _exact_places(self, conn: Any, q: NormalizedAddress) -> list[_Place]:
        if q.town is None or q.pref is None or q.municipality is None:
            return []
        # a town several municipalities have, typed without what tells them apart (京都市 +
        # 南門前町, ward left out): the place in each of them; the 番地 may tell them apart
        where = list(q.candidates) if q.candidates else [(q.pref, q.municipality)]
        out: list[_Place] = []
        for pref, city in where:
            rows = conn.execute(
                text(
                    "SELECT id, pref, city, town, chome, key_text FROM lookup_places "
                    "WHERE pref = :p AND city = :c AND town = :t AND chome = :ch"
                ),
                {"p": pref, "c": city, "t": q.town, "ch": q.chome or 0},
            ).all()
            out.extend(_Place(*r) for r in rows)
        return out

    def _near_places(self, conn: Any, q: NormalizedAddress, qkey: str) -> list[_Place]:
        """Places whose town text is near ``qkey``.

        Within a recognised municipality every place of it is compared with rapidfuzz (an
        in-memory list per municipality, a few thousand at most — complete, and cheaper than a
        trigram query whose short names may share no trigram with their typo: 新開地 /
        新開池). Without one, candidates come from the trigram index: SQLite FTS5 ``trigram``
        or PostgreSQL ``pg_trgm``, filtered by the prefecture when known.
        """
        if not qkey:
            return []
        if q.municipality:
            places, keys = self._city_places(conn, q.pref, q.municipality)
            best = process.extract(qkey, keys, scorer=fuzz.ratio, limit=8)
            return [places[i] for _, _, i in best]
        if len(qkey) < 3:
            return []
        params: dict[str, Any] = {"q": qkey}
        extra = ""
        if q.pref:
            extra = " AND p.pref = :p"
            params["p"] = q.pref
        if self.dialect == "sqlite":
            grams = list(dict.fromkeys(qkey[i : i + 3] for i in range(len(qkey) - 2)))[:40]
            params["m"] = " OR ".join('"' + g.replace('"', '""') + '"' for g in grams)
            sql = (
                "SELECT p.id, p.pref, p.city, p.town, p.chome, p.key_text "
                "FROM lookup_places_fts f JOIN lookup_places p ON p.id = f.rowid "
                f"WHERE lookup_places_fts MATCH :m{extra} ORDER BY f.rank LIMIT 50"
            )
        elif not self.has_trgm:
            # PostgreSQL without pg_trgm: a LIKE scan for the same trigrams (degraded, slower)
            grams = list(dict.fromkeys(qkey[i : i + 3] for i in range(len(qkey) - 2)))[:12]
            likes = []
            for i, g in enumerate(grams):
                params[f"g{i}"] = "%" + g.replace("%", "").replace("_", "") + "%"
                likes.append(f"p.key_text LIKE :g{i}")
            sql = (
                "SELECT p.id, p.pref, p.city, p.town, p.chome, p.key_text FROM lookup_places p "
                f"WHERE ({' OR '.join(likes)}){extra} LIMIT 500"
            )
        else:
            # pg_trgm: the town's trigrams found inside the typed text (<% = word similarity);
            # the threshold is lowered for this transaction only (short Japanese names)
            conn.execute(
                text("SELECT set_config('pg_trgm.word_similarity_threshold', '0.3', true)")
            )
            sql = (
                "SELECT p.id, p.pref, p.city, p.town, p.chome, p.key_text FROM lookup_places p "
                f"WHERE p.key_text <% :q{extra} "
                "ORDER BY word_similarity(p.key_text, :q) DESC LIMIT 50"
            )
        found = [_Place(*r) for r in conn.execute(text(sql), params).all()]
        found.sort(key=lambda pl: -fuzz.ratio(qkey, pl.key_text))
        return found[:8]

    def _city_places(
        self, conn: Any, pref: str | None, municipality: str
    ) -> tuple[list[_Place], list[str]]:
        key = (pref or "", municipality)
        with self._lock:
            hit = self._city_cache.get(key)
            if hit is not None:
                self._city_cache.move_to_end(key)
                return hit
        cols = "id, pref, city, town, chome, key_text"
        if pref and (pref, municipality) in self.dictionary.cities:
            sql, params = (
                f"SELECT {cols} FROM lookup_places WHERE pref = :p AND city = :c",
                {"p": pref, "c": municipality},
            )
        else:  # a 政令指定都市 without its ward (大阪市): every ward
            sql = f"SELECT {cols} FROM lookup_places WHERE city LIKE :c"
            params = {"c": municipality.replace("%", "").replace("_", "") + "%"}
            if pref:
                sql += " AND pref = :p"
                params["p"] = pref
        places = [_Place(*r) for r in conn.execute(text(sql + " LIMIT 50000"), params).all()]
        hit = (places, [p.key_text for p in places])
        with self._lock:
            self._city_cache[key] = hit
            if len(self._city_cache) > 256:
                self._city_cache.popitem(last=False)
        return hit

    def search(self, q: NormalizedAddress, limit: int = 5) -> list[Candidate]:
        """Ranked candidates (best first, score ≥ :data:`MIN_SCORE`, at most ``limit``)."""
        if q.block is None:
            return []
        # an unrecognised town is compared without its 大字/字 (place keys have none)
        qkey = place_text((q.town or "") + strip_aza((q.unmatched or "").replace(" ", "")))
        out: list[Candidate] = []
        with self.engine.connect() as conn:
            places = self._exact_places(conn, q)
            exact_ids = {p.id for p in places}
            rows = self._points(conn, places, q.block)
            if not rows and q.town is None:
                # the town was not recognised: near misses by trigram. (A recognised town
                # that lacks the 番地 is a different real place: nothing near it can be it.)
                places = self._near_places(conn, q, qkey)
                rows = self._points(conn, places, q.block)
        by_id = {p.id: p for p in places}
        echo = q.typed_form()  # the only address text an answer carries
        for r in rows:
            pl = by_id[r[1]]
            s = _score(q, qkey, pl, r, pl.id in exact_ids)
            if s >= MIN_SCORE:
                out.append(
                    Candidate(
                        supply_point_id=r[0],
                        address=echo,
                        score=round(s, 4),
                        voltage=r[6],
                        meter_id=r[7],
                    )
                )
        out.sort(key=lambda c: (-c.score, c.supply_point_id))
        return out[:limit]

    def _points(self, conn: Any, places: list[_Place], block: str) -> list[Any]:
        if not places:
            return []
        rows: list[Any] = []
        for pl in places:
            rows.extend(
                conn.execute(
                    text(
                        "SELECT supply_point_id, place_id, block, number, rest, room, voltage, "
                        "meter_id, koaza FROM lookup_points WHERE place_id = :pid AND block = :b "
                        "LIMIT 500"
                    ),
                    {"pid": pl.id, "b": block},
                ).all()
            )
        return rows


def _room_of(s: str) -> str | None:
    m = _ROOM_RE.search(s)
    return m.group(1).lstrip("0") or "0" if m else None


def _building_part(rest: str, room: str) -> str:
    """The rest without its trailing room number (and 号室)."""
    r = _ROOM_SUFFIX_RE.sub("", rest)
    i = r.rfind(room)
    return (r[:i] + r[i + len(room) :]).strip("-") if i >= 0 else r


def _score(q: NormalizedAddress, qkey: str, pl: _Place, r: Any, exact_place: bool) -> float:
    """Similarity of a candidate point to the query, in [0, 1].

    place: 1 when 都道府県・市区町村・町・丁目 all match; otherwise the trigram-found place's
    rapidfuzz ratio — halved when the query named a *different* town the dictionary knows (a
    real other place, not a typo), and capped below :data:`ACCEPT_SCORE` when the query's town
    text was not recognised (a typo can rank first, but is never a confident answer).
    号 and building/room then scale it down when they differ or are missing.

    No stored part the caller did not type moves the score: a 号 or building/room left out
    of the query gives a constant factor whatever the point has, and the stored building
    text is only ever compared for equality (discrete outcomes), never by a graded
    similarity a caller could read back. So two stores that differ only in parts the query
    left out give byte-identical answers (``tests/lookup/test_echo.py``).
    """
    if exact_place:
        ps = 1.0
    else:
        ratio = fuzz.ratio(qkey, pl.key_text) / 100.0
        if q.municipality is None:
            # the unrecognised text holds the municipality too: align the town inside it
            ratio = max(ratio, 0.9 * fuzz.partial_ratio(pl.key_text, qkey) / 100.0)
        if q.town is not None or (q.chome is not None and q.chome != pl.chome):
            ratio *= 0.5  # another real town, or another 丁目
        ps = min(ACCEPT_SCORE - 0.01, ratio)
    ns = _number_factor(q.number, r[3])
    rs = _rest_factor(q.rest, r[4], r[5])
    ks = _koaza_factor(q.koaza, r[8])
    return max(0.0, min(1.0, ps * ns * rs * ks))


#: 号 / building-room factors: the typed part was left out — no penalty and, above all, a
#: constant whatever the point has (the score measures agreement of what was typed) …
UNTYPED = 1.0
#: … the typed part is absent from the point …
STORED_LACKS = 0.85
#: … the typed room matches but the typed building differs (never confident)
OTHER_BUILDING = 0.7


def _koaza_factor(typed: str | None, stored: str) -> float:
    """小字: another typed 小字 than the point's is not this point's address (never
    confident); not typed, or the point has none: no effect (equality only, discrete)."""
    if typed is None or not stored or fold_key(typed) == stored:
        return UNTYPED
    return OTHER_BUILDING


def _number_factor(typed: str | None, stored: str) -> float:
    if typed is None:
        return UNTYPED
    if typed == stored:
        return 1.0
    return STORED_LACKS if not stored else 0.3


def _rooms_arabic(s: str) -> str:
    """A room or floor written in kanji numerals (二〇三号室, 三階) as arabic digits."""
    return _KANJI_ROOM_RE.sub(lambda m: str(kanji_to_int(m.group(1)) or m.group(1)), s)


def _rest_factor(typed: str | None, stored: str | None, stored_room: str | None) -> float:
    """Building/room: discrete outcomes of comparing what was typed with what is stored."""
    typed_f = _rooms_arabic(fold(typed or ""))
    stored_f = _rooms_arabic(fold(stored or ""))
    qrest = typed_f.replace(" ", "")
    if not qrest:
        return UNTYPED
    crest = stored_f.replace(" ", "")
    if not crest:
        return STORED_LACKS
    if _ROOM_SUFFIX_RE.sub("", qrest) == _ROOM_SUFFIX_RE.sub("", crest):
        return 1.0
    qroom = _room_of(typed_f)  # spaces kept: 「第2 101」 is room 101
    croom = _room_of(_rooms_arabic(stored_room)) if stored_room else _room_of(stored_f)
    if qroom is not None and qroom == croom:
        # same room: the building names (what is left) must agree where both are given
        qb = _building_part(qrest, qroom)
        cb = _building_part(crest, croom)
        # 「第9田町ビル 301」 is not 「第2田町ビル 301」: never confident
        return 0.95 if not qb or not cb or qb == cb else OTHER_BUILDING
    if croom is not None and _building_part(crest, croom) == _ROOM_SUFFIX_RE.sub("", qrest):
        return 1.0  # the building alone was typed, and it is this point's building
    return 0.0  # another room, or another building: not this point
