"""The class reduction is sound on the shipped policies, checked empirically by Cedar:
swapping a fact for another value of the same class never changes whether a policy
is satisfied, and a fact a policy does not read never matters at all."""

from __future__ import annotations

import random

import cedarpy

from gridwall.policy import FIELDS, PolicyEngine
from gridwall.policy._analysis import analyse
from gridwall.policy._cedar import cedar_requests
from gridwall.policy._checker import _partition_from_atoms, _single_policy_set
from gridwall.policy._space import DIMS, request_of


def test_same_class_values_are_indistinguishable_by_every_policy() -> None:
    bundle = PolicyEngine().bundle
    rng = random.Random(7)
    for cid, tpl in bundle.pst.static_policies.items():
        reads = analyse(tpl)
        parts = {
            d.name: _partition_from_atoms(d.values, reads[d.name]) if d.name in reads else None
            for d in DIMS
        }
        pairs = []
        for _ in range(150):
            facts = {d.name: rng.choice(d.values) for d in DIMS}
            twin = dict(facts)
            for d in DIMS:
                part = parts[d.name]
                i = d.values.index(facts[d.name])
                if part is None:  # unread: any value at all
                    twin[d.name] = rng.choice(d.values)
                else:  # read: another value of the same class
                    same = [v for j, v in enumerate(d.values) if part[j] == part[i]]
                    twin[d.name] = rng.choice(same)
            pairs.append((facts, twin))
        reqs = []
        for facts, twin in pairs:
            for f in (facts, twin):
                request, field = request_of(f)
                reqs.append(cedar_requests(request)[FIELDS.index(field)])
        res = cedarpy.is_authorized_batch(
            reqs, _single_policy_set(cid, tpl), bundle.entities, bundle.schema
        )
        for k in range(0, len(res), 2):
            a, b = res[k], res[k + 1]
            assert not a.diagnostics.errors and not b.diagnostics.errors
            assert bool(a.diagnostics.reasons) == bool(b.diagnostics.reasons), (
                bundle.policy_id(cid),
                pairs[k // 2],
            )
