"""Example legacy permission matrices (package data for ``gridwall legacy audit``).

* ``type_a.yaml``: a shared 託送/営業 customer-information system whose masking was
  done screen by screen (the seed's type A story); it is built with known violations.
* ``compliant.yaml``: the same system after the fix; it audits clean.
"""
