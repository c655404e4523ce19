//! Generates the `notes.v1.Notes` server and client with tonic-build's `manual` builder: the
//! service is described here in Rust and its messages are written with prost's derive
//! (`src/pb.rs`), so the build needs no `.proto` file and no `protoc`.

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str, comment: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(format!("crate::pb::{input}"))
            .output_type(format!("crate::pb::{output}"))
            .codec_path("tonic_prost::ProstCodec")
            .comment(comment)
            .build()
    };
    let notes = tonic_build::manual::Service::builder()
        .name("Notes")
        .package("notes.v1")
        .comment("The notes of an organization.")
        .method(method(
            "list_notes",
            "ListNotes",
            "ListNotesRequest",
            "ListNotesReply",
            "The titles of the caller's organization's notes: a session with `org:notes:read`.",
        ))
        .method(method(
            "export_notes",
            "ExportNotes",
            "ExportNotesRequest",
            "ExportNotesReply",
            "Every note, for another service: an M2M token whose scopes name this service's machine.",
        ))
        .build();
    tonic_build::manual::Builder::new().compile(&[notes]);
}
