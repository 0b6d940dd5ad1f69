"""The firewall gateway: the only path to 託送 customer data (非公開情報).

Public surface:

* :func:`lookup_feed`, :func:`holder_name_matches`, :class:`LookupRecord` — what the
  equal-footing lookup may read (no 契約名義, no phone).
"""

from gridwall.gateway._feed import LookupRecord, holder_name_matches, lookup_feed

__all__ = ["LookupRecord", "holder_name_matches", "lookup_feed"]
