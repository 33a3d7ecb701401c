"""The mapping from a captured ``(ret, SSL_get_error, errno, queue)`` to exceptions.

Unit tests of :func:`errors.error_for` on results built by hand cover the
outcomes OpenSSL 3.0 cannot produce during a handshake (ret 0 from
``SSL_do_handshake``, 1.1.1's SSL_ERROR_SYSCALL with ret 0 for EOF). The rest
checks, with real handshakes, that ``str()`` of each exception reads like a
good error message and that one connection's errors never reach another.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

import pytest

from ossl_handshake import (
    FEATURES,
    CertificateVerifyError,
    Connection,
    Context,
    ErrorCode,
    ProtocolError,
    ReturnCode,
    Role,
    SSLError,
    SyscallError,
    UnexpectedEOFError,
    WantAcceptError,
    WantConnectError,
    WantReadError,
    WantWriteError,
    ZeroReturnError,
    certs,
    drive,
    ffi,
    handshake,
    lib,
    memory_pair,
)
from ossl_handshake.core import errors
from tests._openssl import HTTP_REQUEST_FUNC, VERIFY_TEXT, absent_before, alert_reason

ERR_LIB_SSL = int(lib.ERR_LIB_SSL)
SSL_R_UNEXPECTED_EOF_WHILE_READING = int(lib.SSL_R_UNEXPECTED_EOF_WHILE_READING)
SSL_R_CERTIFICATE_VERIFY_FAILED = int(lib.SSL_R_CERTIFICATE_VERIFY_FAILED)
SSL_R_WRONG_VERSION_NUMBER = 267


@pytest.fixture(autouse=True, scope="module")
def ssl_strings_loaded() -> None:
    """Reason texts exist once libssl is initialised, which ``SSL_CTX_new`` does.

    Every real failure happens after a Context exists; results built by hand
    in this module need the same precondition.
    """
    Context(Role.CLIENT).close()


def err_code(library: int, reason: int) -> int:
    """``ERR_PACK(lib, 0, reason)`` for the linked OpenSSL (checked against lib below)."""
    return (library << int(lib.ERR_LIB_OFFSET)) | reason


def make_result(
    ret: int,
    err: int,
    *,
    sys_errno: int = 0,
    reasons: tuple[int, ...] = (),
    verify: int = 0,
    library: int = ERR_LIB_SSL,
) -> Any:
    res = ffi.new("ossl_result *")
    res.ret = ret
    res.err = err
    res.sys_errno = sys_errno
    res.verify = verify
    res.nerr = len(reasons)
    for i, reason in enumerate(reasons):
        entry = res.entries[i]
        entry.code = err_code(library, reason)
        entry.line = 100 + i
        entry.file = b"ssl/test.c"
        entry.func = b"unit_test"
    return res


@absent_before((3, 0), "SSL_R_UNEXPECTED_EOF_WHILE_READING")
def test_packed_error_codes_decode_with_the_linked_openssl() -> None:
    code = err_code(ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING)
    assert lib.ERR_GET_LIB(code) == ERR_LIB_SSL
    assert lib.ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING


def test_return_code_of_maps_every_negative_value_to_fatal() -> None:
    assert ReturnCode.of(1) is ReturnCode.SUCCESS
    assert ReturnCode.of(0) is ReturnCode.SHUTDOWN
    assert ReturnCode.of(-1) is ReturnCode.FATAL
    assert ReturnCode.of(-7) is ReturnCode.FATAL


def test_error_code_values_come_from_lib() -> None:
    assert ErrorCode.NONE == lib.SSL_ERROR_NONE == 0
    assert ErrorCode.SSL == lib.SSL_ERROR_SSL
    assert ErrorCode.WANT_READ == lib.SSL_ERROR_WANT_READ
    assert ErrorCode.SYSCALL == lib.SSL_ERROR_SYSCALL
    assert ErrorCode.ZERO_RETURN == lib.SSL_ERROR_ZERO_RETURN
    assert ErrorCode.WANT_RETRY_VERIFY == lib.SSL_ERROR_WANT_RETRY_VERIFY
    retryable = {c for c in ErrorCode if c.retryable}
    assert ErrorCode.WANT_RETRY_VERIFY not in retryable
    assert {ErrorCode.WANT_READ, ErrorCode.WANT_WRITE, ErrorCode.WANT_X509_LOOKUP} <= retryable


def test_success_maps_to_no_exception() -> None:
    assert errors.error_for(make_result(1, lib.SSL_ERROR_NONE)) is None


def test_ret_zero_from_do_handshake_with_ssl_error_is_a_shutdown_protocol_error() -> None:
    # SSL_do_handshake(3): 0 = "not successful but shut down controlled"; 3.0 never returns it.
    exc = errors.error_for(
        make_result(0, lib.SSL_ERROR_SSL, reasons=(SSL_R_WRONG_VERSION_NUMBER,)), role=Role.CLIENT
    )
    assert type(exc) is ProtocolError
    assert exc.ret == 0 and exc.return_code is ReturnCode.SHUTDOWN
    assert exc.reasons == ["wrong version number"]
    assert exc.errors[0].file == "ssl/test.c" and exc.errors[0].line == 100
    assert "client SSL_do_handshake failed: SSL_ERROR_SSL (ret=0)" in str(exc)


def test_syscall_with_ret_zero_and_empty_queue_is_unexpected_eof_as_on_111() -> None:
    exc = errors.error_for(make_result(0, lib.SSL_ERROR_SYSCALL))
    assert type(exc) is UnexpectedEOFError
    assert exc.error_code is ErrorCode.SYSCALL and exc.ret == 0


def test_syscall_with_errno_is_syscall_error_carrying_errno() -> None:
    exc = errors.error_for(
        make_result(-1, lib.SSL_ERROR_SYSCALL, sys_errno=errno.ECONNRESET), role=Role.SERVER
    )
    assert type(exc) is SyscallError
    assert exc.errno == errno.ECONNRESET
    assert str(exc).endswith(f"errno {errno.ECONNRESET}: Connection reset by peer")


def test_syscall_with_ret_zero_but_errno_set_stays_a_syscall_error() -> None:
    exc = errors.error_for(make_result(0, lib.SSL_ERROR_SYSCALL, sys_errno=errno.EPIPE))
    assert type(exc) is SyscallError and exc.errno == errno.EPIPE


@absent_before((3, 0), "SSL_R_UNEXPECTED_EOF_WHILE_READING")
def test_ssl_error_with_unexpected_eof_reason_is_unexpected_eof() -> None:
    exc = errors.error_for(
        make_result(-1, lib.SSL_ERROR_SSL, reasons=(SSL_R_UNEXPECTED_EOF_WHILE_READING,))
    )
    assert type(exc) is UnexpectedEOFError
    assert isinstance(exc, ProtocolError)


def test_certificate_verify_failed_reason_or_verify_code_is_certificate_verify_error() -> None:
    by_reason = errors.error_for(
        make_result(-1, lib.SSL_ERROR_SSL, reasons=(SSL_R_CERTIFICATE_VERIFY_FAILED,))
    )
    assert type(by_reason) is CertificateVerifyError
    by_code = errors.error_for(make_result(-1, lib.SSL_ERROR_SSL, verify=62))
    assert type(by_code) is CertificateVerifyError
    assert (by_code.verify_result, by_code.verify_message) == (62, VERIFY_TEXT[62])


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (ErrorCode.WANT_READ, WantReadError),
        (ErrorCode.WANT_WRITE, WantWriteError),
        (ErrorCode.WANT_X509_LOOKUP, errors.WantX509LookupError),
        (ErrorCode.WANT_CONNECT, WantConnectError),
        (ErrorCode.WANT_ACCEPT, WantAcceptError),
        (ErrorCode.WANT_ASYNC, errors.WantAsyncError),
        (ErrorCode.WANT_ASYNC_JOB, errors.WantAsyncJobError),
        (ErrorCode.WANT_CLIENT_HELLO_CB, errors.WantClientHelloError),
        (ErrorCode.ZERO_RETURN, ZeroReturnError),
    ],
)
def test_other_codes_map_to_their_classes(code: ErrorCode, cls: type[SSLError]) -> None:
    exc = errors.error_for(make_result(-1, int(code)))
    assert type(exc) is cls
    assert exc.error_code is code


def test_unrequested_want_retry_verify_is_fatal() -> None:
    # CVE-2021-4044: treat it as an error, never as "call again".
    exc = errors.error_for(make_result(-1, int(ErrorCode.WANT_RETRY_VERIFY)))
    assert type(exc) is ProtocolError
    assert "unrequested SSL_ERROR_WANT_RETRY_VERIFY" in str(exc)


def test_requested_want_retry_verify_is_a_pause() -> None:
    # Only a verify callback of the connection (SSL_set_retry_verify) makes it a pause.
    res = make_result(-1, int(ErrorCode.WANT_RETRY_VERIFY))
    exc = errors.error_for(res, requested=ErrorCode.WANT_RETRY_VERIFY)
    assert type(exc) is errors.WantRetryVerifyError
    assert isinstance(exc, errors.PauseError)
    other = errors.error_for(res, requested=ErrorCode.WANT_X509_LOOKUP)
    assert type(other) is ProtocolError


def test_received_alert_is_read_from_queue_when_callback_saw_none() -> None:
    res = make_result(-1, lib.SSL_ERROR_SSL, reasons=(int(lib.SSL_AD_REASON_OFFSET) + 48,))
    exc = errors.error_for(res)
    assert exc is not None
    assert exc.alert_received == "unknown_ca"
    assert exc.errors[0].alert == "unknown_ca"


# -- str() of real failures -------------------------------------------------


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


@pytest.fixture(scope="module")
def client_ctx() -> Context:
    return Context(Role.CLIENT, cafile=certs.CA)


def test_str_of_verify_error_names_role_reason_state_code_and_alert(
    client_ctx: Context, server_ctx: Context
) -> None:
    client, server = memory_pair(client_ctx, server_ctx, server_name="example.com")
    with pytest.raises(CertificateVerifyError) as info:
        handshake(client, server)
    text = str(info.value)
    assert text.startswith("client SSL_do_handshake failed: SSL_ERROR_SSL (ret=-1)")
    assert "in state 'error'" in text
    assert "SSL routines: certificate verify failed" in text
    assert f"verify error 62: {VERIFY_TEXT[62]}" in text
    assert "sent alert bad_certificate" in text


def test_str_of_received_alert_names_it(client_ctx: Context, server_ctx: Context) -> None:
    client, server = memory_pair(client_ctx, server_ctx, server_name="example.com")
    drive(client, server)
    text = str(server.failed)
    assert text.startswith("server SSL_do_handshake failed: SSL_ERROR_SSL (ret=-1)")
    assert alert_reason("bad certificate") + " (SSL alert number 42)" in text
    assert "received alert bad_certificate" in text


def test_str_of_want_read_gives_state(client_ctx: Context) -> None:
    step = Connection(client_ctx, server_name="localhost").step()
    assert str(step.error) == (
        "client SSL_do_handshake failed: SSL_ERROR_WANT_READ (ret=-1) "
        "in state 'SSLv3/TLS write client hello'"
    )


def test_str_of_http_request_names_reason_and_source(server_ctx: Context) -> None:
    server = Connection(server_ctx)
    server.bio_write(b"GET / HTTP/1.0\r\n\r\n")
    text = str(server.step().error)
    assert "server SSL_do_handshake failed: SSL_ERROR_SSL" in text
    assert "SSL routines: http request [" in text
    if FEATURES["error_function_names"]:  # 3.0+ (ERR_get_error_all)
        assert f"{HTTP_REQUEST_FUNC}]" in text


# -- isolation ----------------------------------------------------------------


def failing_client(client_ctx: Context) -> Connection:
    client = Connection(client_ctx, server_name="localhost")
    client.step()
    client.bio_write(b"GET / HTTP/1.0\r\n\r\n")  # not a TLS record: the client fails
    return client


def test_errors_of_one_connection_never_show_on_another(
    client_ctx: Context, server_ctx: Context
) -> None:
    bad = failing_client(client_ctx)
    good_client, good_server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    bad_step = bad.step()
    assert bad_step.failed
    # Interleave: the good pair steps right after the failure, one step at a time.
    for _ in range(6):
        for me, other in ((good_client, good_server), (good_server, good_client)):
            if not me.is_init_finished:
                st = me.step()
                assert st.error is None or type(st.error) is WantReadError
                assert st.error is None or st.error.errors == ()
                me.transfer_to(other)
        assert bad.step() is bad_step
    assert good_client.is_init_finished and good_server.is_init_finished
    assert errors.drain() == ()  # nothing left behind in this thread's queue


def test_failure_in_another_thread_does_not_reach_this_one(
    client_ctx: Context, server_ctx: Context
) -> None:
    seen: list[SSLError | None] = []

    def fail_elsewhere() -> None:
        seen.append(failing_client(client_ctx).step().error)

    t = threading.Thread(target=fail_elsewhere)
    t.start()
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    result = handshake(client, server)
    t.join(timeout=30)
    assert result.error is None
    assert type(seen[0]) is ProtocolError
    assert all(r.step.error is None or r.step.error.errors == () for r in result.steps)


def test_feature_flags_match_the_linked_openssl() -> None:
    from ossl_handshake import BUILD_VERSION, FEATURES, ErrorCode, Options
    from ossl_handshake._native import UNAVAILABLE_OPTIONS

    modern = BUILD_VERSION >= 0x3000000
    assert {
        "negotiated_group": modern,
        "want_retry_verify": modern,
        "ignore_unexpected_eof": modern,
        "error_function_names": modern,
        "signature_type": modern,
        "retry_verify": BUILD_VERSION >= 0x3000002,  # SSL_set_retry_verify: 3.0.2
        "client_renegotiation_option": modern,
        "providers": modern,
        "async_status": modern,
    } == FEATURES
    assert (ErrorCode.WANT_RETRY_VERIFY > 0) is FEATURES["want_retry_verify"]
    # An absent option is not 0 (an alias of NONE) but a bit of its own that is refused.
    available = not Options.IGNORE_UNEXPECTED_EOF & UNAVAILABLE_OPTIONS
    assert available is FEATURES["ignore_unexpected_eof"]


def test_an_option_the_linked_openssl_lacks_is_refused_not_ignored() -> None:
    from ossl_handshake import ConfigurationError, Context, Options, Role
    from ossl_handshake._native import RUNTIME_VERSION_TEXT, UNAVAILABLE_OPTIONS

    absent = [m for m in Options if m.name and m.value and m.value & UNAVAILABLE_OPTIONS]
    present = [m for m in Options if m.name and m.value and not m.value & UNAVAILABLE_OPTIONS]
    assert Options.NO_TICKET in present
    print(f"absent in {RUNTIME_VERSION_TEXT}: {[m.name for m in absent]}")
    for option in absent:
        with pytest.raises(ConfigurationError, match=f"Options.{option.name} not available"):
            Context(Role.CLIENT, options=option)
        ctx = Context(Role.CLIENT)
        with pytest.raises(ConfigurationError, match="not available"):
            ctx.set_options(option | Options.NO_TICKET)
        assert not ctx.options & Options.NO_TICKET  # refused as a whole


# -- alerts, unclassified calls, EOF across versions, retryable -------------


def test_internal_error_reason_with_flags_is_not_an_alert() -> None:
    # ERR_R_INTERNAL_ERROR carries ERR_RFLAG_FATAL|ERR_RFLAG_COMMON on 3.0:
    # 786691 as ERR_GET_REASON returns it, which is > 1000 and was reported
    # as "alert_785691".
    exc = errors.error_for(make_result(-1, lib.SSL_ERROR_SSL, reasons=(lib.ERR_R_INTERNAL_ERROR,)))
    assert type(exc) is ProtocolError
    assert exc.errors[0].alert is None
    assert exc.alert_received is None
    assert "alert_" not in str(exc)


def test_only_ssl_reasons_1001_to_1255_are_received_alerts() -> None:
    offset = int(lib.SSL_AD_REASON_OFFSET)
    for reason, alert in (
        (offset + 1, "alert_1"),
        (offset + 20, "bad_record_mac"),
        (offset + 255, "alert_255"),
    ):
        assert errors.alert_number(err_code(ERR_LIB_SSL, reason)) == reason - offset
        exc = errors.error_for(make_result(-1, lib.SSL_ERROR_SSL, reasons=(reason,)))
        assert exc is not None and exc.alert_received == alert
    for reason in (offset, offset + 256):
        assert errors.alert_number(err_code(ERR_LIB_SSL, reason)) is None
    # The same number from another library, or as a system error, is no alert.
    assert errors.alert_number(err_code(int(lib.ERR_LIB_SYS), offset + 48)) is None
    if lib.ERR_SYSTEM_FLAG:
        assert errors.alert_number(int(lib.ERR_SYSTEM_FLAG) | (offset + 48)) is None


def test_key_update_before_the_handshake_is_a_protocol_error_still_in_init(
    client_ctx: Context,
) -> None:
    conn = Connection(client_ctx, server_name="localhost")
    with pytest.raises(ProtocolError) as info:
        conn.key_update()
    exc = info.value
    assert type(exc) is ProtocolError
    assert exc.error_code is ErrorCode.SSL and exc.operation == "SSL_key_update"
    # 3.0 refuses before any version is negotiated, later versions "still in init".
    assert exc.reasons in (["wrong ssl version"], ["still in init"])
    assert exc.errors[0].library_code == ERR_LIB_SSL
    conn.close()


def test_key_update_refused_is_a_protocol_error_when_ssl_get_error_says_syscall() -> None:
    # OpenSSL 4.0's SSL_get_error no longer reads the queue for SSL_key_update:
    # the code comes from ret and the queue, not from SSL_get_error.
    queued = make_result(0, lib.SSL_ERROR_SYSCALL, reasons=(int(lib.SSL_R_STILL_IN_INIT),))
    exc = errors.error_for(queued, operation="SSL_key_update")
    assert type(exc) is ProtocolError and exc.error_code is ErrorCode.SSL
    empty = errors.error_for(make_result(0, lib.SSL_ERROR_SSL), operation="SSL_key_update")
    assert type(empty) is SyscallError and empty.error_code is ErrorCode.SYSCALL
    assert (
        errors.error_for(make_result(1, lib.SSL_ERROR_SYSCALL), operation="SSL_key_update") is None
    )
    assert "SSL_key_update" in errors.UNCLASSIFIED_OPERATIONS


def test_eof_during_handshake_as_on_111_is_unexpected_eof() -> None:
    # 1.1.1: SSL_do_handshake returns -1, SSL_ERROR_SYSCALL, errno 0, no queue.
    exc = errors.error_for(make_result(-1, lib.SSL_ERROR_SYSCALL), role=Role.CLIENT)
    assert type(exc) is UnexpectedEOFError
    assert exc.error_code is ErrorCode.SYSCALL and exc.ret == -1


def test_unexpected_eof_reason_is_the_linked_openssls() -> None:
    from ossl_handshake import BUILD_VERSION

    want = 294 if BUILD_VERSION >= 0x3000000 else -1  # SSL_R_UNEXPECTED_EOF_WHILE_READING
    assert errors.REASON_UNEXPECTED_EOF == int(lib.SSL_R_UNEXPECTED_EOF_WHILE_READING) == want


def test_retryable_agrees_between_c_and_python_for_every_error_code() -> None:
    for code in ErrorCode:
        assert code.retryable is bool(lib.ossl_retryable(int(code))), code
    assert not ErrorCode.WANT_RETRY_VERIFY.retryable  # CVE-2021-4044
    assert not ErrorCode.NONE.retryable and not ErrorCode.SSL.retryable


@pytest.mark.parametrize("fast", [True, False], ids=["c_driver", "python_loop"])
def test_binding_calls_inside_on_info_keep_the_hostname_mismatch_a_verify_error(
    client_ctx: Context, server_ctx: Context, fast: bool
) -> None:
    """Glue calls made from a callback set the outer call's queue aside (glue/step.c)."""
    other = Connection(client_ctx, server_name="localhost")
    other.step()
    seen: list[str] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        seen.append(other.state)  # a read of another connection
        errors.ensure(lib.ERR_peek_error, ok=0)  # a setup call: clear, call, drain
        with pytest.raises(ProtocolError):
            other.key_update()  # a failing glue call with a queue of its own

    client, server = memory_pair(client_ctx, server_ctx, server_name="wrong.example", direct=True)
    client.on_info = on_info
    result = drive(client, server, _fast=fast)
    assert seen
    exc = result.error
    assert type(exc) is CertificateVerifyError, result.explain()
    assert exc.verify_result == 62 and exc.verify_message == VERIFY_TEXT[62]
    assert exc.reasons == ["certificate verify failed"]
    assert result.failed_side is Role.CLIENT
    for conn in (client, server, other):
        conn.close()


@pytest.mark.parametrize("fast", [True, False], ids=["c-driver", "python-loop"])
def test_a_context_built_inside_on_info_keeps_the_outer_errors_file_and_function(
    client_ctx: Context, server_ctx: Context, fast: bool
) -> None:
    """The outer entries set aside and put back keep their file and function names.

    OpenSSL 3 frees an entry's file/function copies when the entry is popped:
    a stash holding those pointers put freed memory back into the queue.
    """
    made: list[Context] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        made.append(Context(Role.CLIENT, cafile=certs.CA, ciphers="HIGH"))

    client, server = memory_pair(client_ctx, server_ctx, server_name="wrong.example", direct=fast)
    client.on_info = on_info
    result = drive(client, server, _fast=fast)
    assert made
    exc = result.error
    assert type(exc) is CertificateVerifyError, result.explain()
    assert exc.verify_result == 62
    for rec in exc.errors:
        assert rec.file.endswith(".c") and rec.file.isprintable(), rec
        assert rec.function == "" or rec.function.isidentifier(), rec
    client.close()
    server.close()
