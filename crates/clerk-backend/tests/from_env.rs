//! `Client::from_env`, alone in its test binary because it changes the environment.

use clerk_backend::{Client, Error};

#[test]
fn from_env_reads_the_secret_key_and_api_url() {
    std::env::remove_var("CLERK_SECRET_KEY");
    std::env::remove_var("CLERK_API_URL");
    assert!(matches!(Client::from_env(), Err(Error::Config(_))));

    std::env::set_var("CLERK_SECRET_KEY", "sk_test_from_env");
    assert_eq!(
        Client::from_env().unwrap().api_url(),
        "https://api.clerk.com/"
    );

    std::env::set_var("CLERK_API_URL", "http://127.0.0.1:4000");
    assert_eq!(
        Client::from_env().unwrap().api_url(),
        "http://127.0.0.1:4000/"
    );

    std::env::set_var("CLERK_API_URL", "");
    assert_eq!(
        Client::from_env().unwrap().api_url(),
        "https://api.clerk.com/"
    );

    std::env::set_var("CLERK_API_URL", "http://clerk.example.com");
    assert!(matches!(Client::from_env(), Err(Error::Config(_))));
}
