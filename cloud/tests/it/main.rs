//! Integration tests of wardwatch-cloud against real Kinesis servers on
//! loopback: kinesalite and moto, started by `scripts/peers.sh start ENVFILE`
//! (which `scripts/test.sh` does). Every behaviour test runs against both;
//! where the servers differ, the test says which one checks what.

/// Turns `async fn name(peer: Peer)` into one test per server, named
/// `<module>::kinesalite::name` and `<module>::moto::name`.
macro_rules! on_both_peers {
    ($($name:ident),* $(,)?) => {
        mod kinesalite {
            $(
                #[tokio::test]
                async fn $name() {
                    let _guard = crate::peers::guard(crate::peers::Peer::Kinesalite).await;
                    super::$name(crate::peers::Peer::Kinesalite).await
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test]
                async fn $name() {
                    let _guard = crate::peers::guard(crate::peers::Peer::Moto).await;
                    super::$name(crate::peers::Peer::Moto).await
                }
            )*
        }
    };
}

mod auth;
mod peers;
mod resharding;
mod streams;
mod tls;
