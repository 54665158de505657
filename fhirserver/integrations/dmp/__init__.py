"""DMP exchange: one client interface, an XDS.b SOAP implementation (ITI-41/18/43/57, VIHF 4.0) and a PDSm FHIR one (ITI-65); a sandbox."""
