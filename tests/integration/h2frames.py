"""A tiny HTTP/2 frame builder and reader for raw-socket tests (RFC 9113, RFC 7541).

Builds exactly the bytes a test asks for, valid or not: the connection preface, SETTINGS,
HEADERS (HPACK literal-without-indexing, no Huffman), CONTINUATION, DATA, RST_STREAM, PING,
WINDOW_UPDATE, GOAWAY. Reads frames back as (type, flags, stream_id, payload) until the peer
closes or a timeout passes. `H2Connection` is a minimal client on top of that. Standard library
only.
"""
import socket
import ssl
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)

# SETTINGS identifiers.
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6


def frame(ftype, flags, stream_id, payload=b""):
    """One frame: the 9-byte header and `payload`, whatever they say."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags,
                                                            stream_id & 0x7FFFFFFF) + payload


def settings(entries=(), ack=False):
    """SETTINGS with (identifier, value) pairs, or an empty ACK."""
    payload = b"".join(struct.pack(">HI", k, v) for k, v in entries)
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def hpack_int(value, prefix_bits, first=0):
    """An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(data):
    """A string literal without Huffman coding."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    return hpack_int(len(data), 7) + data


def hpack_literal(name, value):
    """A field as "literal without indexing, new name" (RFC 7541 §6.2.2): no table state."""
    return b"\x00" + hpack_string(name) + hpack_string(value)


def header_block(fields):
    """An HPACK block for (name, value) pairs, in order, exactly as given (no lowercasing)."""
    return b"".join(hpack_literal(n, v) for n, v in fields)


def request_fields(path="/", method="GET", authority="localhost", scheme="http", extra=()):
    return [(":method", method), (":scheme", scheme), (":authority", authority),
            (":path", path)] + list(extra)


def headers(stream_id, fields_or_block, end_stream=True, end_headers=True):
    """HEADERS carrying `fields_or_block` (a list of pairs, or raw HPACK bytes)."""
    block = fields_or_block if isinstance(fields_or_block, (bytes, bytearray)) else \
        header_block(fields_or_block)
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream_id, bytes(block))


def continuation(stream_id, block, end_headers=True):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream_id, bytes(block))


def data(stream_id, payload, end_stream=True):
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def ping(opaque=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, opaque)


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment & 0x7FFFFFFF))


def goaway(last_stream_id, code=NO_ERROR, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id & 0x7FFFFFFF, code) + debug)


def goaway_error(payload):
    """(last_stream_id, error_code, debug data) of a GOAWAY payload."""
    last, code = struct.unpack(">II", payload[:8])
    return last & 0x7FFFFFFF, code, payload[8:]


def rst_error(payload):
    return struct.unpack(">I", payload[:4])[0]


class FrameReader:
    """Reads frames from a (blocking) socket. `closed` turns true once the peer closed."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0  # start of the unread part of buf (frees are batched: floods are long)
        self.closed = False

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk
        return True

    def read_frame(self, timeout=3.0):
        """The next (type, flags, stream_id, payload), or None on close or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.pos
            if len(self.buf) - p >= 9:
                length = int.from_bytes(self.buf[p:p + 3], "big")
                if len(self.buf) - p >= 9 + length:
                    ftype, flags, sid = struct.unpack_from(">BBI", self.buf, p + 3)
                    payload = bytes(self.buf[p + 9:p + 9 + length])
                    self.pos = p + 9 + length
                    return ftype, flags, sid & 0x7FFFFFFF, payload
            if self.closed or not self._fill(deadline):
                return None

    def frames(self, timeout=3.0):
        """Every frame until the peer closes or `timeout` seconds pass in total."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return out
            out.append(f)


# --- reading a response status without a full HPACK decoder -------------------------------
# Clients built on this module send SETTINGS_HEADER_TABLE_SIZE = 0, so the server's encoder keeps
# no dynamic table: every field is a static index or a literal. Only :status is decoded.

_STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
# Huffman codes (RFC 7541 Appendix B) of the digits, enough for a :status value.
_HUFFMAN_DIGITS = {(0x0, 5): "0", (0x1, 5): "1", (0x2, 5): "2", (0x19, 6): "3", (0x1a, 6): "4",
                   (0x1b, 6): "5", (0x1c, 6): "6", (0x1d, 6): "7", (0x1e, 6): "8", (0x1f, 6): "9"}


def _read_int(block, pos, prefix_bits):
    limit = (1 << prefix_bits) - 1
    value = block[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    while True:
        b = block[pos]
        pos += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def _read_string(block, pos):
    huffman = bool(block[pos] & 0x80)
    length, pos = _read_int(block, pos, 7)
    return huffman, block[pos:pos + length], pos + length


def _huffman_digits(raw):
    bits = "".join(format(b, "08b") for b in raw)
    out, i = "", 0
    while i < len(bits):
        for n in (5, 6):
            code = bits[i:i + n]
            if len(code) == n and (int(code, 2), n) in _HUFFMAN_DIGITS:
                out += _HUFFMAN_DIGITS[(int(code, 2), n)]
                i += n
                break
        else:
            if set(bits[i:]) <= {"1"} and len(bits) - i < 8:
                return out  # EOS padding
            raise ValueError("not a Huffman-coded number")
    return out


def response_status(block):
    """The :status of a response header block, or None if it cannot be found."""
    pos = 0
    while pos < len(block):
        b = block[pos]
        if b & 0x80:  # indexed field
            index, pos = _read_int(block, pos, 7)
            if index in _STATIC_STATUS:
                return _STATIC_STATUS[index]
            continue
        if b & 0xE0 == 0x20:  # dynamic table size update
            _, pos = _read_int(block, pos, 5)
            continue
        prefix = 6 if b & 0x40 else 4  # incremental indexing, or without / never indexed
        index, pos = _read_int(block, pos, prefix)
        if index == 0:
            _, name, pos = _read_string(block, pos)
            name_is_status = name == b":status"
        else:
            name_is_status = 8 <= index <= 14
        huffman, value, pos = _read_string(block, pos)
        if name_is_status:
            return int(_huffman_digits(value) if huffman else value.decode())
    return None


def field_representations(block):
    """How each field of a header block is coded (RFC 7541 §6), as (kind, index) pairs: kind is
    "indexed", "incremental" (literal added to the decoder's dynamic table), "literal" (without
    indexing), "never" (never indexed) or "size_update" (index = the new table size); index 0 =
    a new name."""
    out, pos = [], 0
    while pos < len(block):
        b = block[pos]
        if b & 0x80:
            index, pos = _read_int(block, pos, 7)
            out.append(("indexed", index))
            continue
        if b & 0xE0 == 0x20:
            size, pos = _read_int(block, pos, 5)
            out.append(("size_update", size))
            continue
        if b & 0x40:
            kind, prefix = "incremental", 6
        else:
            kind, prefix = ("never" if b & 0x10 else "literal"), 4
        index, pos = _read_int(block, pos, prefix)
        if index == 0:
            _, _, pos = _read_string(block, pos)
        _, _, pos = _read_string(block, pos)
        out.append((kind, index))
    return out


class H2Connection:
    """A minimal HTTP/2 client over an already connected socket (cleartext or TLS with ALPN h2).
    Keeps no HPACK state (asks the server for a zero-size table)."""

    def __init__(self, sock, timeout=5.0, send_preface=True, next_stream=1):
        self.sock = sock
        self.timeout = timeout
        self.reader = FrameReader(sock)
        self.next_stream = next_stream
        self.goaway = None  # (last_stream_id, code) once the server sent GOAWAY
        if send_preface:
            self.sock.sendall(PREFACE + settings([(SETTINGS_HEADER_TABLE_SIZE, 0),
                                                  (SETTINGS_ENABLE_PUSH, 0)]) +
                              window_update(0, 1 << 24))

    @classmethod
    def connect(cls, port, tls=False, host="127.0.0.1", timeout=5.0):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            sock = tls_wrap(sock)
        return cls(sock, timeout)

    def send(self, data):
        self.sock.sendall(data)

    def new_stream(self):
        sid = self.next_stream
        self.next_stream += 2
        return sid

    def request(self, path="/static/app.css", method="GET", extra=(), body=None, fields=None,
                authority="localhost"):
        """Sends one request and waits for its end. Returns a dict: status, body, reset
        (RST_STREAM code or None), goaway (code or None), closed."""
        sid = self.new_stream()
        scheme = "https" if isinstance(self.sock, ssl.SSLSocket) else "http"
        if fields is None:
            fields = request_fields(path, method, authority, scheme, extra)
        out = headers(sid, fields, end_stream=body is None)
        if body is not None:
            out += data(sid, body, end_stream=True)
        self.send(out)
        return self.wait_stream(sid)

    def wait_stream(self, sid, timeout=None):
        result = {"stream": sid, "status": None, "body": b"", "reset": None, "goaway": None,
                  "closed": False}
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            f = self.reader.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                result["closed"] = self.reader.closed
                return result
            ftype, flags, fsid, payload = f
            if ftype == SETTINGS and not flags & ACK:
                self.send(settings(ack=True))
            elif ftype == PING and not flags & ACK:
                self.send(ping(payload, ack=True))
            elif ftype == GOAWAY:
                last, code, _ = goaway_error(payload)
                self.goaway = (last, code)
                result["goaway"] = code
                if sid > last:
                    result["closed"] = True
                    return result
            elif fsid != sid:
                continue
            elif ftype == HEADERS:
                if result["status"] is None:
                    result["status"] = response_status(payload)
                if flags & END_STREAM:
                    return result
            elif ftype == DATA:
                result["body"] += payload
                if payload:
                    self.send(window_update(sid, len(payload)))
                if flags & END_STREAM:
                    return result
            elif ftype == RST_STREAM:
                result["reset"] = rst_error(payload)
                return result

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tls_wrap(sock, alpn=("h2",)):
    """Wraps a connected socket in TLS with ALPN and no certificate verification."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx.wrap_socket(sock, server_hostname="localhost")
