"""Indexing speed: crossrank vs LlamaIndex VectorStoreIndex + ChromaVectorStore.

Both embed the same chunks (crossrank's own chunking of CPython's help topics) with the same
model (all-MiniLM-L6-v2, HuggingFaceEmbedding on the LlamaIndex side) into an in-memory
Chroma collection; crossrank also with its bf16 encoder. Prints passages/s and the ratios.
Usage: python benchmarks/indexing.py [--chunks N] [--repeats R]
"""

from __future__ import annotations

import argparse
import itertools
from pydoc_data.topics import topics

from crossrank import Encoder, Store
from crossrank.ingest import chunk_document

from common import median_seconds

counter = itertools.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import chromadb
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from crossrank._models import bundled_model

    encoder = Encoder(device="cpu")
    tokenizer = encoder.model.tokenizer
    chunks = [
        chunk
        for name in sorted(topics)
        for chunk in chunk_document(name, topics[name], tokenizer, encoder.chunk_tokens, 32)
    ][: args.chunks]
    client = chromadb.EphemeralClient()

    def crossrank_index(with_encoder: Encoder = encoder) -> None:
        store = Store(collection=f"bench{next(counter)}", encoder=with_encoder, client=client)
        store.add(chunks)

    fast = Encoder(device="cpu", precision="bf16")

    embed = HuggingFaceEmbedding(model_name=str(bundled_model()), device="cpu")
    nodes = [TextNode(id_=c.id, text=c.text) for c in chunks]

    def llama_index() -> None:
        collection = client.create_collection(f"li{next(counter)}")
        VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(
                vector_store=ChromaVectorStore(chroma_collection=collection)
            ),
            embed_model=embed,
        )

    ours = median_seconds(crossrank_index, args.repeats)
    bf16 = median_seconds(lambda: crossrank_index(fast), args.repeats)
    theirs = median_seconds(llama_index, args.repeats)
    print(f"{len(chunks)} chunks of <={encoder.chunk_tokens} tokens, median of {args.repeats} runs")
    print(f"crossrank Store.add                     {len(chunks) / ours:7.1f} passages/s")
    print(f"LlamaIndex VectorStoreIndex + Chroma    {len(chunks) / theirs:7.1f} passages/s")
    print(f"crossrank Store.add, bf16 encoder       {len(chunks) / bf16:7.1f} passages/s")
    ratios = f"{theirs / ours:.2f}x (fp32), {theirs / bf16:.2f}x (bf16)"
    print(f"crossrank / LlamaIndex                  {ratios}")


if __name__ == "__main__":
    main()
