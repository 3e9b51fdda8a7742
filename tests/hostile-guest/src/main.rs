//! The hostile guest: argv picks what it does.
//!
//! - `spin`: loops on CPU forever.
//! - `allocate`: takes memory 1 MiB at a time until an allocation fails,
//!   then prints `allocated N MiB`.
//! - `fetch URL`: a `wasi:http` GET; prints `status N` or `error CODE`.
//! - `work N`: N rounds of arithmetic, prints the result, exits 0.

use std::hint::black_box;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};

const BLOCK: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["spin"] => spin(),
        ["allocate"] => allocate(),
        ["fetch", url] => fetch(url),
        ["work", rounds] => work(rounds.parse().unwrap_or(0)),
        _ => {
            eprintln!("usage: hostile-guest spin | allocate | fetch URL | work N");
            std::process::exit(2);
        }
    }
}

fn spin() {
    let mut state = 1u64;
    loop {
        state = black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
    }
}

fn allocate() {
    // Room for the block list first, so only the blocks themselves can fail.
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(4096);
    while blocks.len() < blocks.capacity() {
        let mut block = Vec::new();
        if block.try_reserve_exact(BLOCK).is_err() {
            break;
        }
        // Touch every page, so the memory is really used.
        block.resize(BLOCK, 0xA5);
        blocks.push(black_box(block));
    }
    let taken = blocks.len();
    drop(blocks);
    println!("allocated {taken} MiB");
}

fn fetch(url: &str) {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return println!("error not an http(s) URL"),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let request = OutgoingRequest::new(Fields::new());
    let set = [request.set_scheme(Some(&scheme)), request.set_authority(Some(authority)), request.set_path_with_query(Some(path))];
    if set.iter().any(Result::is_err) {
        return println!("error the request line was refused");
    }
    let Ok(body) = request.body() else { return println!("error no request body") };
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return println!("error {code:?}"),
    };
    let _ = OutgoingBody::finish(body, None);
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => println!("status {}", response.status()),
        Some(Ok(Err(code))) => println!("error {code:?}"),
        _ => println!("error no response"),
    }
}

fn work(rounds: u64) {
    let mut state = 1u64;
    for round in 0..rounds {
        state = black_box(state.wrapping_mul(6364136223846793005).wrapping_add(round));
    }
    println!("{state}");
}
