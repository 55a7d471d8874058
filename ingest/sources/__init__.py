"""CRM sources: one module per source kind, all behind the Source protocol."""
