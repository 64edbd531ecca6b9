"""An agent that calls crossrank as a LlamaIndex tool: the model decides when to search.

Usage:
    python examples/llama_index_agent.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

The tool is ``search_tool(CrossRankRetriever(...))``: hybrid retrieval, reranking, and the
cited context (``[n] source > section`` then the passage) as the tool's answer, in
LlamaIndex's own ``ReActAgent``. Offline, a scripted LLM stands in: it calls the tool once,
then answers citing ``[1]``. With a real LLM (``ReActAgent(tools=[tool], llm=OpenAI())``,
or a ``FunctionAgent``) nothing else changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from llama_index.core.agent.workflow import ReActAgent, ToolCallResult
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.postprocessor.crossrank import CrossRankContext
from llama_index.retrievers.crossrank import CrossRankRetriever
from llama_index.tools.crossrank import search_tool

from rag_setup import BUDGET, setup


class ScriptedLLM(CustomLLM):
    """Answers with the ReAct steps it is given, in turn."""

    steps: list[str]

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.steps.pop(0))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        text = self.steps.pop(0)
        yield CompletionResponse(text=text, delta=text)


def scripted(question: str) -> ScriptedLLM:
    return ScriptedLLM(
        steps=[
            "Thought: I need the documents.\nAction: search_documents\n"
            f"Action Input: {json.dumps({'query': question})}",
            "Thought: I can answer without using any more tools.\n"
            "Answer: From the passages: see [1]. (a scripted answer, offline)",
        ]
    )


async def ask(agent: ReActAgent, question: str) -> str:
    handler = agent.run(question)
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            print(f"Q: {question}\ntool {event.tool_name}({event.tool_kwargs}) answered:")
            print(event.tool_output.content)
    return str(await handler)


def main() -> None:
    questions, store, reranker = setup(__doc__.splitlines()[0])
    retriever = CrossRankRetriever(store, k=20, fetch_k=20, reranker=reranker)
    tool = search_tool(retriever, context=CrossRankContext(budget=BUDGET, store=store))
    for question in questions:
        agent = ReActAgent(tools=[tool], llm=scripted(question))
        print(f"A: {asyncio.run(ask(agent, question))}\n")


if __name__ == "__main__":
    main()
