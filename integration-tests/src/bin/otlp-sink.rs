//! otlp-sink: a loopback OTLP trace receiver for `bench/tracing.sh`. Prints its gRPC endpoint,
//! then serves until killed; with `--count`, prints the spans received so far every second.
//!
//!   otlp-sink [ADDR] [--count]        (ADDR defaults to 127.0.0.1:0)

use std::time::Duration;

use ferry_integration_tests::OtlpSink;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.iter().any(|a| a == "--count");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("127.0.0.1:0", String::as_str);
    let sink = OtlpSink::start_on(addr);
    println!("{}", sink.grpc_endpoint());
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if count {
            eprintln!("spans: {}", sink.spans().len());
        }
    }
}
