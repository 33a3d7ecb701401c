"""Watching handshakes: ``Trace`` (state, message, transfer and key log events),
the ladder view and pcap/pcapng export."""
