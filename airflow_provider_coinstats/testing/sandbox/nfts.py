"""NFT collections and their assets: a few real collection addresses, synthetic figures."""

from __future__ import annotations

import hashlib
import random

from airflow_provider_coinstats.testing.sandbox import data

COLLECTIONS = (  # address, name, slug, supply, floor in ETH
    (
        "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d",
        "Bored Ape Yacht Club",
        "bored-ape-yacht-club",
        10_000,
        12.8,
    ),
    ("0xb47e3cd837ddf8e4c57f05d70ab865de6e193bbb", "CryptoPunks", "cryptopunks", 10_000, 38.5),
    ("0xed5af388653567af2f388e6224dc7c4b3241c544", "Azuki", "azuki", 10_000, 4.1),
    ("0x8a90cab2b38dba80c64b7734e58ee1db38b8992e", "Doodles", "doodles-official", 10_000, 1.9),
    ("0x49cf6f5d44e70224e2e23fdcdd2c053f30ada28b", "CloneX", "clonex", 19_460, 0.9),
    (
        "0x60e4d786628fea6478f785a6d7e704777c86a7c6",
        "Mutant Ape Yacht Club",
        "mutant-ape-yacht-club",
        19_423,
        2.3,
    ),
)
BY_ADDRESS = {row[0]: row for row in COLLECTIONS}


def find(address: str) -> tuple[str, str, str, int, float] | None:
    return BY_ADDRESS.get(address.lower())


def collection(address: str) -> dict[str, object]:
    address, name, slug, supply, floor = BY_ADDRESS[address.lower()]
    rng = random.Random(f"nft:{address}")
    eth = data.price_of("ethereum")
    rank = [row[0] for row in COLLECTIONS].index(address) + 1
    return {
        "address": address,
        "blockchain": "ethereum",
        "name": name,
        "description": f"{name}: {supply:,} unique collectibles on Ethereum (sandbox data).",
        "img": f"{data.ASSETS_URL}/nft/{slug}/main.webp",
        "bannerImg": f"{data.ASSETS_URL}/nft/{slug}/banner.webp",
        "relevantUrls": [{"name": "Etherscan", "url": f"https://etherscan.io/address/{address}"}],
        "slug": slug,
        "slugCs": slug.replace("-", "_"),
        "source": "opensea",
        "verified": True,
        "rank": rank,
        "rankAll": rank,
        "count": supply,
        "totalSupply": supply,
        "ownersCount": int(supply * rng.uniform(0.3, 0.6)),
        "floorPriceMc": floor,
        "floorPriceUsd": round(floor * eth, 2),
        "mainCurrencyId": "ethereum",
        "marketcapMc": round(floor * supply, 2),
        "marketcapUsd": round(floor * supply * eth),
        "averagePrice": round(floor * rng.uniform(1.0, 1.3), 3),
        "volumeMc24h": round(floor * rng.uniform(5, 40), 2),
        "volumeMc7d": round(floor * rng.uniform(40, 200), 2),
        "floorPriceChange24h": round(rng.uniform(-8, 8), 2),
        "floorPriceChange7d": round(rng.uniform(-20, 20), 2),
        "oneDaySales": rng.randint(2, 40),
        "sevenDaySales": rng.randint(20, 200),
        "totalSales": rng.randint(20_000, 90_000),
        "listedCount": rng.randint(100, 900),
        "creatorFee": 250,
        "createdDate": "2021-04-30T12:00:00.000Z",
        "show": True,
    }


def trending() -> list[dict[str, object]]:
    return [collection(row[0]) for row in COLLECTIONS]


def asset(address: str, token_id: str) -> dict[str, object]:
    address, name, slug, supply, floor = BY_ADDRESS[address.lower()]
    rng = random.Random(f"nft:{address}:{token_id}")
    digest = hashlib.sha256(f"{address}:{token_id}".encode()).hexdigest()
    listed = rng.random() < 0.3
    item: dict[str, object] = {
        "address": address,
        "blockchain": "ethereum",
        "tokenId": token_id,
        "attributes": [
            {
                "key": trait,
                "kind": "string",
                "value": rng.choice(("Orange", "Blue", "Gold", "Cream", "Army Green")),
                "tokenCount": rng.randint(100, 2_000),
                "onSaleCount": rng.randint(1, 60),
                "floorAskPrice": round(floor * rng.uniform(1, 2), 3),
                "topBidValue": round(floor * rng.uniform(0.8, 1), 3),
                "createdAt": "2024-01-27T07:15:58.523Z",
            }
            for trait in ("Background", "Fur", "Eyes")
        ],
        "collectionId": digest[:32],
        "name": f"{name} #{token_id}",
        "previewUrl": f"{data.ASSETS_URL}/nft/{slug}/{token_id}.webp",
        "rarityRank": rng.randint(1, supply),
        "rarityScore": round(rng.uniform(20, 300), 3),
        "source": "reservoir",
        "standard": "ERC721",
        "url": f"{data.ASSETS_URL}/nft/{slug}/{token_id}.png",
        "lastSaleDate": "2025-11-15T10:30:00.000Z",
        "lastSalePrice": round(floor * rng.uniform(0.9, 1.6), 3),
    }
    if listed:
        # The spec's schema makes listSource an object (NftAssetListSourceType) though its
        # example is the string "opensea"; the sandbox follows the schema.
        listing = {"listSource": {"id": "opensea", "name": "OpenSea"}}
        item |= listing | {"listPrice": round(floor * rng.uniform(1.0, 1.5), 3)}
    return item


def assets(address: str) -> list[dict[str, object]]:
    """The first 60 tokens of a collection (the sandbox does not list all 10,000)."""
    return [asset(address, str(token_id)) for token_id in range(60)]


def wallet_assets(owner: str) -> list[dict[str, object]]:
    """The collections a wallet holds tokens of: 0-3, seeded by the address."""
    rng = random.Random(f"nft-wallet:{owner.lower()}")
    held = rng.sample(COLLECTIONS, rng.randint(0, 3))
    result = []
    for address, name, slug, supply, floor in held:
        tokens = sorted(rng.sample(range(supply), rng.randint(1, 3)))
        last_sale = round(floor * rng.uniform(0.9, 1.4), 3)
        result.append(
            {
                "name": name,
                "logo": f"{data.ASSETS_URL}/nft/{slug}/main.webp",
                "address": address,
                "totalFloorPrice": round(floor * len(tokens), 3),
                "totalLastSalePrice": round(last_sale * len(tokens), 3),
                "id": slug,
                "assetsCount": len(tokens),
                "assets": [
                    {"previewImg": f"{data.ASSETS_URL}/nft/{slug}/{token}.webp"} for token in tokens
                ],
                "floorPrice": floor,
            }
        )
    return result
