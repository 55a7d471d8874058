"""What must leave the index and prove it: erasure and consent revocation (suppress, purge,
verify, receipt) and retiring a source removed from the configuration. Which records may be
indexed at all is policy as data (policies/)."""
