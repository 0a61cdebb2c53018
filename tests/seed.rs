//! The seed conversation, exactly: every request body the crate sends equals the recorded one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use serde_json::Value;
use support::seed;
use toolcall::chat::{AssistantContent, Usage};
use toolcall::{Agent, OpenAiCompatible};
use wiremock::ResponseTemplate;

#[tokio::test]
async fn tools_array_equals_the_seed() {
    let expected: Value = serde_json::from_str(seed::fixture("request-1.json")).unwrap();
    let registry = seed::registry();
    let emitted: Value = serde_json::from_str(registry.tools_json().get()).unwrap();
    assert_eq!(emitted, expected["tools"]);
    assert_eq!(Value::Array(registry.definitions()), expected["tools"]);
}

#[tokio::test]
async fn seed_conversation_end_to_end() {
    let replies = seed::responses()
        .iter()
        .map(|body| support::json_reply(200, body))
        .collect::<Vec<ResponseTemplate>>();
    let server = support::llm(replies).await;
    let backend = OpenAiCompatible::new(format!("{}/v1", server.uri()))
        .model("qwen3-4b")
        .assistant_content(AssistantContent::Omitted);
    let agent = Agent::new(backend, seed::registry()).system(seed::SYSTEM);

    let run = agent.run(seed::QUESTION).await.unwrap();

    let sent = support::bodies(&server).await;
    assert_eq!(sent.len(), 4);
    for (i, body) in sent.iter().enumerate() {
        let expected: Value =
            serde_json::from_str(seed::fixture(&format!("request-{}.json", i + 1))).unwrap();
        assert_eq!(body, &expected, "request {} differs", i + 1);
    }
    let response4: Value = serde_json::from_str(seed::fixture("response-4.json")).unwrap();
    assert_eq!(
        run.answer(),
        response4["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        run.usage(),
        Usage::new(
            707 + 832 + 950 + 1072,
            42 + 42 + 43 + 126,
            749 + 874 + 993 + 1198
        )
    );
    assert_eq!(run.steps().len(), 4);
    assert_eq!(run.steps()[3].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(run.steps()[0].usage, Some(Usage::new(707, 42, 749)));
    // system, user, 3 × (assistant + tool), final assistant
    assert_eq!(run.messages().len(), 9);
}
