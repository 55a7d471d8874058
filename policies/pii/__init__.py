"""Detection layers of the redaction stage. Each layer is a pure function of the text (and what
the CRM knows) that returns candidate spans; policies/redaction.py runs them beside Presidio and
resolves the overlaps. Layers: what the CRM knows, dialogue context, numbers, names, fields and
cue phrases, then precision rules (allow lists, never across a line break or a speaker label).
"""
