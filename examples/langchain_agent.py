"""An agent that calls crossrank as a LangChain tool: the model decides when to search.

Usage:
    python examples/langchain_agent.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

The tool is ``create_search_tool(CrossRankRetriever(...))``: hybrid retrieval, reranking,
and the cited context (``[n] source > section`` then the passage) as the tool's answer.
Offline, a scripted chat model stands in for the LLM: it calls the tool once, then answers
citing ``[1]``. With a real chat model (``ChatOpenAI(...).bind_tools([tool])``) the loop
below is the same.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_crossrank import CrossRankContext, CrossRankRetriever, create_search_tool

from rag_setup import BUDGET, setup


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the messages it is given, in turn; takes tools as a real model does."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def scripted(question: str) -> ScriptedChatModel:
    call = {"name": "search_documents", "args": {"query": question}, "id": "call-1"}
    replies = [
        AIMessage(content="", tool_calls=[call]),
        AIMessage(content="From the passages: see [1]. (a scripted answer, offline)"),
    ]
    return ScriptedChatModel(messages=iter(replies))


def main() -> None:
    questions, store, reranker = setup(__doc__.splitlines()[0])
    retriever = CrossRankRetriever(store=store, k=20, fetch_k=20, reranker=reranker)
    tool = create_search_tool(retriever, context=CrossRankContext(budget=BUDGET, store=store))
    for question in questions:
        model = scripted(question).bind_tools([tool])
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:  # the agent loop: the model asks for tools until it answers
            reply = model.invoke(messages)
            messages.append(reply)
            if not isinstance(reply, AIMessage) or not reply.tool_calls:
                break
            for call in reply.tool_calls:
                result = tool.invoke(call)  # a ToolMessage: the context, documents as artifact
                print(f"Q: {question}\ntool {call['name']}({call['args']}) answered:")
                print(result.content)
                messages.append(result)
        print(f"A: {reply.content}\n")


if __name__ == "__main__":
    main()
