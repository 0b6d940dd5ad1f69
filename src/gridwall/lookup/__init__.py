"""The equal-footing supply-point lookup (供給地点の住所検索): Japanese address normalisation
(住所正規化) and a search over the operator's supply points that every retailer — affiliated
or independent — gets alike. It returns supply point IDs (供給地点特定番号), equipment and the
normalised address; never a name or phone number. See ``docs/lookup.md``.
"""

from gridwall.lookup._normalize import NormalizedAddress, normalize

__all__ = ["NormalizedAddress", "normalize"]
