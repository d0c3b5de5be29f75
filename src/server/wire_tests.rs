use super::*;

fn read(text: &str) -> Option<Result<Whole, Refusal>> {
    read_request(text.as_bytes())
}

fn status(text: &str) -> u16 {
    match read(text) {
        Some(Err((status, _))) => status,
        other => panic!("{text:?} was not refused: {other:?}"),
    }
}

#[test]
fn content_length_and_chunked_bodies_are_read() {
    let r = read("POST /v4/a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.0.as_str(), r.1.as_str(), r.2.as_slice()),
        ("POST", "/v4/a", &b"{}"[..])
    );
    let r = read(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n1;x\r\n \r\n0\r\n\r\n",
    );
    assert_eq!(r.unwrap().unwrap().2, b"{} ");
    let r = read("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\nA ; a=\"b c\"\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n");
    assert_eq!(r.unwrap().unwrap().2, b"0123456789");
    assert!(
        read("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}").is_none(),
        "incomplete"
    );
    assert!(read("POST / HTTP/1.1\r\nContent-").is_none());
}

#[test]
fn ambiguous_framing_is_a_400() {
    for text in [
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length: 0x2\r\n\r\n{}",
        "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET nothing HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 x\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(status(text), 400, "{text:?}");
    }
}

#[test]
fn a_coding_other_than_chunked_is_a_501() {
    for te in [
        "gzip",
        "gzip, chunked",
        "identity",
        "x\r\nTransfer-Encoding: chunked",
    ] {
        let text = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        let want = if te.starts_with("gzip,") || te.starts_with("x\r") {
            501
        } else {
            400
        };
        assert_eq!(status(&text), want, "{te:?}");
    }
}

#[test]
fn obs_fold_bare_cr_lf_and_bad_names_are_a_400() {
    for text in [
        "POST / HTTP/1.1\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nX-A: 1\r\n\tfolded\r\n\r\n",
        "POST / HTTP/1.1\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length : 0\r\n\r\n",
        "POST / HTTP/1.1\r\nno colon\r\n\r\n",
        "POST / HTTP/1.1\r\n: empty name\r\n\r\n",
        "POST / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
    ] {
        assert_eq!(status(text), 400, "{text:?}");
    }
}

#[test]
fn bad_chunks_are_refused() {
    let chunked =
        |rest: &str| format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{rest}");
    for (rest, want) in [
        ("+2\r\n{}\r\n0\r\n\r\n", 400),
        ("2 2\r\n{}\r\n0\r\n\r\n", 400),
        ("\r\n", 400),
        ("2\n{}\r\n0\r\n\r\n", 400),
        ("2\r\n{}xx0\r\n\r\n", 400),
        ("0\r\nT: 1\n\r\n", 400),
        ("g\r\n", 400),
    ] {
        assert_eq!(status(&chunked(rest)), want, "{rest:?}");
    }
    let endless_line = chunked(&"0".repeat(MAX_CHUNK_LINE + 1));
    assert_eq!(status(&endless_line), 400);
    let endless_ext = chunked(&format!("1;{}", "e".repeat(MAX_CHUNK_LINE)));
    assert_eq!(status(&endless_ext), 400);
    let endless_trailers = chunked(&format!("0\r\n{}", "T: 1\r\n".repeat(MAX_TRAILERS)));
    assert_eq!(status(&endless_trailers), 431);
    let within = chunked(&format!(
        "{}1\r\nx\r\n0\r\n\r\n",
        "0".repeat(MAX_CHUNK_LINE - 2)
    ));
    assert_eq!(read(&within).unwrap().unwrap().2, b"x");
}

#[test]
fn heads_are_bounded() {
    let many = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        "X: 1\r\n".repeat(MAX_HEADERS + 1)
    );
    assert_eq!(status(&many), 431);
    let enough = format!("GET / HTTP/1.1\r\n{}\r\n", "X: 1\r\n".repeat(MAX_HEADERS));
    assert!(read(&enough).unwrap().is_ok());
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "x".repeat(MAX_HEAD));
    assert_eq!(status(&long), 431);
    let endless = format!("GET / HTTP/1.1\r\nX: {}", "x".repeat(MAX_HEAD));
    assert_eq!(status(&endless), 431);
}

#[test]
fn expect_is_read() {
    let head = |t: &str| {
        let end = head_end(t.as_bytes(), 0).unwrap().unwrap();
        parse_head(&t.as_bytes()[..end], MAX_BODY)
    };
    let h = head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n").unwrap();
    assert!(h.expect_continue);
    let h = head("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").unwrap();
    assert!(!h.expect_continue, "HTTP/1.0 knows no 100 Continue");
    assert_eq!(
        head("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n")
            .unwrap_err()
            .0,
        417
    );
}

#[test]
fn huge_sizes_are_refused_without_overflow() {
    // A chunk size near usize::MAX overflowed the reader's earlier bounds arithmetic.
    let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
    assert_eq!(status(text), 413);
    let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff";
    assert_eq!(status(text), 413);
    let text = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", usize::MAX);
    assert_eq!(status(&text), 413);
    let text = format!("POST / HTTP/1.1\r\nContent-Length: {}0\r\n\r\n", usize::MAX);
    assert_eq!(status(&text), 413);
    let text = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
    assert!(read(&text).is_none(), "the largest body is waited for");
}

#[test]
fn connection_close_is_honoured() {
    let head = |t: &str| parse_head(t.as_bytes(), MAX_BODY).unwrap().close;
    assert!(head("GET / HTTP/1.0\r\n\r\n"));
    assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert!(head(
        "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    assert!(!head("GET / HTTP/1.1\r\n\r\n"));
}
