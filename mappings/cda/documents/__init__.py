"""CDA R2 documents, one module per ANS model (n1: non-structured body; dlu_ehpad, fludt: DLU-EHPAD 2022.01)."""
