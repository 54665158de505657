"""XDS.b metadata for the DMP and MSSanté: CDA header → DocumentEntry/SubmissionSet (:mod:`.metadata`), the DMP
value sets as data (:mod:`.valuesets`), ebRIM 3.0 SubmitObjectsRequest serialisation and parsing (:mod:`.ebrim`).

IHE ITI TF-3 §4.2 (https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html), ANS CI-SIS "Lien entre l'en-tête CDA et
les métadonnées XDS". Pure: lxml and the standard library only.
"""
