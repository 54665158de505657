"""MSSanté: IHE XDM messages sent over SMTP, incoming messages ingested from a mail drop or IMAP."""
