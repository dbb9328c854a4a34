"""The thinnest slice: one proxied request over HTTP/1.1, h2c and h2 over TLS."""
import harness


class Smoke(harness.ProxyTestCase):
    def test_http11_request_is_proxied_byte_identical(self):
        status, body = harness.curl_status("--http1.1", self.proxy.url("/static/app.css"))
        self.assertEqual(status, 200)
        _, direct = harness.curl_status(self.origin.url("/static/app.css"))
        self.assertEqual(body, direct)
        self.assertEqual(len(body), 4096)

    def test_h2c_prior_knowledge_request_is_proxied(self):
        r = harness.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                         self.proxy.url("/static/logo.png"))
        self.assertEqual(r.stdout.decode(), "200 2")

    def test_h2_over_tls_request_is_proxied(self):
        r = harness.curl("--http2", "--cacert", self.proxy.cert, "-o", "/dev/null", "-w",
                         "%{http_code} %{http_version} %{size_download}",
                         "--resolve", "localhost:%d:127.0.0.1" % self.proxy.https,
                         self.proxy.url("/static/logo.png", tls=True))
        self.assertEqual(r.stdout.decode(), "200 2 65536")


if __name__ == "__main__":
    harness.main()
