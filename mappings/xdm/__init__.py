"""IHE XDM (ITI-32) packaging for MSSanté: build and read the ZIP (:mod:`.package`). Pure: standard library + lxml."""
