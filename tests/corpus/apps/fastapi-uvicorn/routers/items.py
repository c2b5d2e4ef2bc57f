from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

router = APIRouter(prefix="/items", tags=["items"])


class Item(BaseModel):
    id: int
    name: str
    price: float
    in_stock: bool = True


fake_items_db: dict[int, Item] = {
    1: Item(id=1, name="Widget", price=9.99),
    2: Item(id=2, name="Gadget", price=24.5, in_stock=False),
}


@router.get("/", response_model=list[Item])
async def read_items():
    return list(fake_items_db.values())


@router.get("/{item_id}", response_model=Item)
async def read_item(item_id: int):
    if item_id not in fake_items_db:
        raise HTTPException(status_code=404, detail="Item not found")
    return fake_items_db[item_id]


@router.post("/", response_model=Item, status_code=201)
async def create_item(item: Item):
    if item.id in fake_items_db:
        raise HTTPException(status_code=409, detail="Item already exists")
    fake_items_db[item.id] = item
    return item
