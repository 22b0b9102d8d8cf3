//! `create-local-table NAME`: creates the flow table NAME, as `template.yaml` defines it, on the
//! endpoint the environment names (`AWS_ENDPOINT_URL`, e.g. a local moto server). For the demo.
#[tokio::main]
async fn main() {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: create-local-table TABLE_NAME");
        std::process::exit(2);
    };
    let sdk = aws_config::load_from_env().await;
    integration_tests::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &name).await;
    println!("created table {name} from template.yaml");
}
