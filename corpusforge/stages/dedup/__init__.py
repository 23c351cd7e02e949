"""Deduplication: exact (hash of the normalized text) and MinHash near-duplicates, with the
MinHash signatures, bands and components beside the stage that uses them."""
