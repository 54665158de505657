"""CI-SIS / IHE PCC body entries (problem and allergy concerns, treatments, immunizations, observations, acts)."""
