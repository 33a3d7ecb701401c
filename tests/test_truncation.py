"""Exhaustive truncation: cut the connection after every byte offset of every flight.

For each flight of a reference TLS 1.2 and TLS 1.3 handshake, and each byte
offset in it, a fresh pair runs with a wire that closes that direction
(``BIO_shutdown_wr`` on the receiver) after exactly that many bytes of the
flight. Every run must end, within the step budget, in a typed error on the
side that was cut off: never a hang, a crash or a false success. All offsets
are tried, none sampled: about 4,200 handshakes with shared contexts, 1.6 ms
each on an idle 2-core machine (7 s for both versions), 3-8 ms under load.

Two flights vary in length between runs (the ECDSA signature in the TLS 1.2
ServerKeyExchange; the TLS 1.3 session tickets), so an offset taken from the
reference can lie past the end of the stream in a particular run: the cut
then never happens, which the test checks explicitly (the fault did not
fire, the handshake succeeded, and the stream really was that short).
"""

from __future__ import annotations

import collections

import pytest

from ossl_handshake import Context, Role, UnexpectedEOFError, certs, drive, handshake, memory_pair
from ossl_handshake.wire import Wire
from ossl_handshake.wire.faults import CloseAfter
from tests._openssl import EOF_ALERT, EOF_REASONS

Outcome = tuple[str, int, str, str, str, str]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_cutting_any_flight_at_any_byte_ends_in_a_typed_eof_error(
    ossl_server_context: Context, version: str
) -> None:
    client_ctx = Context(Role.CLIENT, cafile=certs.CA, max_version=version)
    client, server = memory_pair(client_ctx, ossl_server_context, server_name="localhost")
    reference = Wire()
    handshake(client, server, wire=reference)
    flights = [f for role in Role for f in reference.flights[role]]
    assert len(flights) == 4  # two flights each way (TLS 1.3: the tickets are the second)

    outcomes: collections.Counter[Outcome] = collections.Counter()
    uncut = 0
    runs = 0
    for flight in flights:
        cut_dir, receiver = flight.direction, flight.direction.peer
        for offset in range(len(flight)):
            client, server = memory_pair(client_ctx, ossl_server_context, server_name="localhost")
            cut = CloseAfter(cut_dir, offset, flight=flight.index, optional=True)
            wire = Wire([cut])
            result = drive(client, server, wire=wire)
            runs += 1
            if not cut.fired:
                # This run's stream from that flight on was shorter than the offset.
                uncut += 1
                rest = sum(len(f) for f in wire.flights[cut_dir][flight.index :])
                assert rest <= offset, (flight, offset, result.explain())
                assert result.ok, result.explain()
                continue
            err = result.error
            assert err is not None, f"false success cutting {flight} at {offset}"
            assert isinstance(err, UnexpectedEOFError), result.explain()
            assert result.failed_side is receiver, result.explain()
            assert err.reasons == EOF_REASONS, result.explain()
            # The receiver (unless already done reading) answers the EOF with decode_error.
            outcomes[
                (
                    cut_dir.value,
                    flight.index,
                    receiver.value,
                    type(err).__name__,
                    (err.reasons or ["(no reason)"])[0],
                    str(result.side(receiver).alert_sent),
                )
            ] += 1

    print(f"\nTLS {version}: {runs} truncated handshakes, {uncut} offsets past this run's stream")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {count:5d} x {outcome}")
    assert outcomes, "no truncation ever fired"
    assert uncut <= 40  # only the few bytes by which the variable flights differ
    assert {o[:2] for o in outcomes} == {(f.direction.value, f.index) for f in flights}
    assert {o[5] for o in outcomes} == {str(EOF_ALERT)}
